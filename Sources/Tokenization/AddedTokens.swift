/// An added token (HF `added_tokens`): matched in the raw text before pre-tokenization.
struct AddedTokenSpec: Sendable, Equatable {
    var id: Int
    var content: String
    var special: Bool
    var lstrip = false
    var rstrip = false
    var singleWord = false
}

/// Finds added tokens in UTF-8 text as HF does: leftmost-longest match, then lstrip/rstrip
/// absorb adjacent whitespace, single_word requires whitespace or the text edge around.
struct AddedTokenMatcher: Sendable {
    private struct Candidate: Sendable {
        var bytes: [UInt8]
        var spec: AddedTokenSpec
    }
    /// Candidates by first byte, longest first.
    private var byFirstByte: [[Candidate]] = Array(repeating: [], count: 256)
    private(set) var isEmpty = true

    init(_ tokens: [AddedTokenSpec]) {
        for t in tokens where !t.content.isEmpty {
            let bytes = Array(t.content.utf8)
            byFirstByte[Int(bytes[0])].append(Candidate(bytes: bytes, spec: t))
            isEmpty = false
        }
        for i in 0..<256 { byFirstByte[i].sort { $0.bytes.count > $1.bytes.count } }
    }

    enum Piece {
        case text(Range<Int>)
        case token(Int)
    }

    /// Calls `body` with the text ranges and token ids of `text`, in order.
    func split(_ text: UnsafeBufferPointer<UInt8>, _ body: (Piece) -> Void) {
        let n = text.count
        if isEmpty {
            if n > 0 { body(.text(0..<n)) }
            return
        }
        var start = 0  // start of the pending text
        var i = 0
        while i < n {
            let cands = byFirstByte[Int(text[i])]
            var matched: (spec: AddedTokenSpec, end: Int)? = nil
            for c in cands where c.bytes.count <= n - i {
                var same = true
                for k in 1..<c.bytes.count where text[i + k] != c.bytes[k] { same = false; break }
                if !same { continue }
                if c.spec.singleWord && !(Self.spaceOrEdgeBefore(text, i) && Self.spaceOrEdgeAfter(text, i + c.bytes.count)) {
                    continue
                }
                matched = (c.spec, i + c.bytes.count)
                break
            }
            guard let (spec, end0) = matched else { i += 1; continue }
            var from = i, end = end0
            if spec.lstrip {
                while from > start, let (s, len) = Self.scalarBefore(text, from), s.properties.isWhitespace { from -= len }
            }
            if spec.rstrip {
                while end < n, let (s, len) = Self.scalarAt(text, end), s.properties.isWhitespace { end += len }
            }
            if from > start { body(.text(start..<from)) }
            body(.token(spec.id))
            start = end
            i = end
        }
        if start < n { body(.text(start..<n)) }
    }

    private static func scalarAt(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Unicode.Scalar, Int)? {
        var it = t[i...].makeIterator()
        var dec = UTF8()
        if case .scalarValue(let s) = dec.decode(&it) { return (s, UTF8.width(s)) }
        return nil
    }

    private static func scalarBefore(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Unicode.Scalar, Int)? {
        var j = i - 1
        while j > 0 && t[j] & 0xC0 == 0x80 { j -= 1 }
        guard j >= 0 else { return nil }
        return scalarAt(t, j)
    }

    private static func spaceOrEdgeBefore(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        guard i > 0, let (s, _) = scalarBefore(t, i) else { return true }
        return s.properties.isWhitespace
    }

    private static func spaceOrEdgeAfter(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        guard i < t.count, let (s, _) = scalarAt(t, i) else { return true }
        return s.properties.isWhitespace
    }
}
