/// Incremental decoding for generation: `push` returns the text completed by one more token,
/// holding back the bytes of a character that later tokens finish. The concatenation of all
/// pushes and `flush()` equals `decode` of all ids.
public final class StreamDecoder {
    private let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    private var pending: [UInt8] = []

    init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    public func push(_ id: Int) -> String {
        tokenizer.appendBytes(id, skipSpecialTokens, &pending)
        let keep = Self.incompleteTail(pending)
        if keep == pending.count { return "" }
        let text = String(decoding: pending[..<(pending.count - keep)], as: UTF8.self)
        pending.removeFirst(pending.count - keep)
        return text
    }

    /// Whatever is held back (an unfinished character decodes as U+FFFD).
    public func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of a trailing prefix of a UTF-8 sequence that more bytes could still complete.
    static func incompleteTail(_ b: [UInt8]) -> Int {
        let n = b.count
        var back = 0
        // Up to 3 continuation bytes back to a lead byte.
        while back < min(n, 4) {
            let c = b[n - 1 - back]
            if c & 0xC0 != 0x80 { break }
            back += 1
        }
        if back == n || back >= 4 { return 0 }
        let lead = b[n - 1 - back]
        let need: Int
        switch lead {
        case 0xC2...0xDF: need = 1
        case 0xE0...0xEF: need = 2
        case 0xF0...0xF4: need = 3
        default: return 0
        }
        guard back < need else { return 0 }
        // The second byte's range is restricted for some leads; an impossible one is not held.
        if back >= 1 {
            let second = b[n - back]
            switch lead {
            case 0xE0: if second < 0xA0 { return 0 }
            case 0xED: if second > 0x9F { return 0 }
            case 0xF0: if second < 0x90 { return 0 }
            case 0xF4: if second > 0x8F { return 0 }
            default: break
            }
        }
        return back + 1
    }
}
