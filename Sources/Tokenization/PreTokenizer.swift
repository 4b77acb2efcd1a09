/// The regex splits of byte-level BPE tokenizers, written as scanners over Unicode scalars.
/// Each rule reproduces HF `Split(pattern, behavior: Isolated)` (or `Digits`) exactly:
/// leftmost-first alternation with backtracking, every match a piece, and text between
/// matches kept as pieces of its own.
enum SplitRule: Sendable, Equatable {
    /// GPT-2 (ByteLevel use_regex): `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Llama-3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// Qwen2: as Llama-3 with single `\p{N}`.
    case qwen2
    /// HF `Digits(individual_digits: true)`: every numeric character a piece.
    case digits
    /// DeepSeek-V3 stage 1: `\p{N}{1,3}`.
    case deepseekDigits
    /// DeepSeek-V3 stage 2: `[一-龥぀-ゟ゠-ヿ]+`.
    case deepseekCJK
    /// DeepSeek-V3 stage 3: ``[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+``
    case deepseekMain

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let deepseekDigitsPattern = #"\p{N}{1,3}"#
    static let deepseekCJKPattern = "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+"
    static let deepseekMainPattern = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"

    /// The rule for a `Split` regex of a tokenizer.json, if it is one of the known ones.
    /// DeepSeek's file writes CR/LF in its main pattern as raw characters; both spellings match.
    static func forPattern(_ pattern: String) -> SplitRule? {
        let escaped = pattern.replacingCRLFWithEscapes()
        switch escaped {
        case gpt2Pattern: return .gpt2
        case llama3Pattern: return .llama3
        case qwen2Pattern: return .qwen2
        case deepseekDigitsPattern: return .deepseekDigits
        case deepseekCJKPattern: return .deepseekCJK
        case deepseekMainPattern.replacingCRLFWithEscapes(): return .deepseekMain
        default: return nil
        }
    }
}

extension String {
    fileprivate func replacingCRLFWithEscapes() -> String {
        var out = ""
        for ch in unicodeScalars {
            switch ch {
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}

/// A text segment decoded once into scalars, class flags and UTF-8 offsets, reused across calls.
struct ScalarText {
    var scalars: [UInt32] = []
    var flags: [UInt8] = []
    /// UTF-8 offset of scalar i; one extra entry for the end.
    var offsets: [Int32] = []

    mutating func load(_ utf8: UnsafeBufferPointer<UInt8>) {
        scalars.removeAll(keepingCapacity: true)
        flags.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var i = 0
        let n = utf8.count
        while i < n {
            let b0 = UInt32(utf8[i])
            var v: UInt32
            var len: Int
            // Input comes from a Swift String, so it is valid UTF-8.
            if b0 < 0x80 { v = b0; len = 1 }
            else if b0 < 0xE0 { v = (b0 & 0x1F) << 6 | UInt32(utf8[i + 1] & 0x3F); len = 2 }
            else if b0 < 0xF0 {
                v = (b0 & 0x0F) << 12 | UInt32(utf8[i + 1] & 0x3F) << 6 | UInt32(utf8[i + 2] & 0x3F); len = 3
            } else {
                v = (b0 & 0x07) << 18 | UInt32(utf8[i + 1] & 0x3F) << 12
                    | UInt32(utf8[i + 2] & 0x3F) << 6 | UInt32(utf8[i + 3] & 0x3F); len = 4
            }
            scalars.append(v)
            flags.append(CharClass.flags(v))
            offsets.append(Int32(i))
            i += len
        }
        offsets.append(Int32(n))
    }
}

struct PreTokenizer: Sendable {
    var rules: [SplitRule]

    /// Splits `text` into pieces, appended to `pieces` as (start, end) scalar index pairs.
    /// `scratch` is working storage.
    func split(_ text: ScalarText, into pieces: inout [Int32], scratch: inout [Int32]) {
        pieces.removeAll(keepingCapacity: true)
        let n = text.scalars.count
        if n == 0 { return }
        pieces.append(0)
        pieces.append(Int32(n))
        text.scalars.withUnsafeBufferPointer { c in
            text.flags.withUnsafeBufferPointer { f in
                for rule in rules {
                    swap(&pieces, &scratch)
                    pieces.removeAll(keepingCapacity: true)
                    var k = 0
                    while k < scratch.count {
                        Self.apply(rule, c, f, Int(scratch[k]), Int(scratch[k + 1]), &pieces)
                        k += 2
                    }
                }
            }
        }
    }

    /// The pieces of `text` as strings (tests and diagnostics).
    func pieces(of text: String) -> [String] {
        var st = ScalarText(), pieces: [Int32] = [], scratch: [Int32] = []
        var text = text
        return text.withUTF8 { buf -> [String] in
            st.load(buf)
            split(st, into: &pieces, scratch: &scratch)
            return stride(from: 0, to: pieces.count, by: 2).map { k in
                let a = Int(st.offsets[Int(pieces[k])]), b = Int(st.offsets[Int(pieces[k + 1])])
                return String(decoding: UnsafeBufferPointer(rebasing: buf[a..<b]), as: UTF8.self)
            }
        }
    }

    @inline(__always)
    private static func apply(_ rule: SplitRule, _ c: UnsafeBufferPointer<UInt32>, _ f: UnsafeBufferPointer<UInt8>,
                              _ lo: Int, _ hi: Int, _ out: inout [Int32]) {
        var i = lo
        var gap = -1
        while i < hi {
            let e: Int
            switch rule {
            case .gpt2: e = matchGPT2(c, f, i, hi)
            case .llama3: e = matchLlama3(c, f, i, hi, maxDigits: 3)
            case .qwen2: e = matchLlama3(c, f, i, hi, maxDigits: 1)
            case .digits: e = f[i] & CharClass.number != 0 ? i + 1 : -1
            case .deepseekDigits: e = matchDigits(f, i, hi, max: 3)
            case .deepseekCJK: e = matchCJK(c, i, hi)
            case .deepseekMain: e = matchDeepSeek(c, f, i, hi)
            }
            if e < 0 {
                if gap < 0 { gap = i }
                i += 1
                continue
            }
            if gap >= 0 { out.append(Int32(gap)); out.append(Int32(i)); gap = -1 }
            out.append(Int32(i)); out.append(Int32(e))
            i = e
        }
        if gap >= 0 { out.append(Int32(gap)); out.append(Int32(hi)) }
    }

    // MARK: shared pieces

    private static let L = CharClass.letter, N = CharClass.number, S = CharClass.space
    private static let cr: UInt32 = 0x0D, lf: UInt32 = 0x0A, sp: UInt32 = 0x20, apostrophe: UInt32 = 0x27

    /// `'s|'t|'re|'ve|'m|'ll|'d` at i (c[i] is an apostrophe); end or -1.
    @inline(__always)
    private static func contraction(_ c: UnsafeBufferPointer<UInt32>, _ i: Int, _ hi: Int, caseInsensitive: Bool) -> Int {
        guard i + 1 < hi else { return -1 }
        func fold(_ v: UInt32) -> UInt32 {
            guard caseInsensitive else { return v }
            if v >= 0x41 && v <= 0x5A { return v + 0x20 }
            if v == 0x17F { return 0x73 }  // ſ folds to s
            return v
        }
        let a = fold(c[i + 1])
        switch a {
        case 0x73, 0x74, 0x6D, 0x64: return i + 2  // s t m d
        case 0x72, 0x76:  // r v → e
            if i + 2 < hi && fold(c[i + 2]) == 0x65 { return i + 3 }
        case 0x6C:  // l → l
            if i + 2 < hi && fold(c[i + 2]) == 0x6C { return i + 3 }
        default: break
        }
        return -1
    }

    /// `\s*[\r\n]+|\s+(?!\S)|\s+` (or without the first alternative) at i where c[i] is whitespace.
    @inline(__always)
    private static func whitespace(_ c: UnsafeBufferPointer<UInt32>, _ f: UnsafeBufferPointer<UInt8>,
                                   _ i: Int, _ hi: Int, newlineRule: Bool) -> Int {
        var k = i
        var lastNL = -1
        while k < hi && f[k] & S != 0 {
            if c[k] == cr || c[k] == lf { lastNL = k }
            k += 1
        }
        if newlineRule && lastNL >= 0 { return lastNL + 1 }
        if k == hi { return k }
        if k - i >= 2 { return k - 1 }
        return k
    }

    @inline(__always)
    private static func run(_ f: UnsafeBufferPointer<UInt8>, _ from: Int, _ hi: Int, _ mask: UInt8) -> Int {
        var k = from
        while k < hi && f[k] & mask != 0 { k += 1 }
        return k
    }

    @inline(__always)
    private static func isOther(_ flags: UInt8) -> Bool { flags & (L | N | S) == 0 }

    // MARK: patterns

    private static func matchGPT2(_ c: UnsafeBufferPointer<UInt32>, _ f: UnsafeBufferPointer<UInt8>, _ i: Int, _ hi: Int) -> Int {
        if c[i] == apostrophe {
            let e = contraction(c, i, hi, caseInsensitive: false)
            if e >= 0 { return e }
        }
        let j = (c[i] == sp && i + 1 < hi) ? i + 1 : i
        let fj = f[j]
        if fj & L != 0 { return run(f, j + 1, hi, L) }
        if fj & N != 0 { return run(f, j + 1, hi, N) }
        if isOther(fj) {
            var k = j + 1
            while k < hi && isOther(f[k]) { k += 1 }
            return k
        }
        // c[i] is whitespace here (a space followed by whitespace, or other whitespace).
        return whitespace(c, f, i, hi, newlineRule: false)
    }

    private static func matchLlama3(_ c: UnsafeBufferPointer<UInt32>, _ f: UnsafeBufferPointer<UInt8>, _ i: Int, _ hi: Int,
                                    maxDigits: Int) -> Int {
        let ch = c[i], fi = f[i]
        if ch == apostrophe {
            let e = contraction(c, i, hi, caseInsensitive: true)
            if e >= 0 { return e }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if fi & (L | N) == 0 && ch != cr && ch != lf && i + 1 < hi && f[i + 1] & L != 0 {
            return run(f, i + 2, hi, L)
        }
        if fi & L != 0 { return run(f, i + 1, hi, L) }
        // \p{N}{1,maxDigits}
        if fi & N != 0 {
            var k = i + 1
            while k < hi && k - i < maxDigits && f[k] & N != 0 { k += 1 }
            return k
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let j = (ch == sp && i + 1 < hi && isOther(f[i + 1])) ? i + 1 : i
        if isOther(f[j]) {
            var k = j + 1
            while k < hi && isOther(f[k]) { k += 1 }
            while k < hi && (c[k] == cr || c[k] == lf) { k += 1 }
            return k
        }
        return whitespace(c, f, i, hi, newlineRule: true)
    }

    private static func matchDigits(_ f: UnsafeBufferPointer<UInt8>, _ i: Int, _ hi: Int, max: Int) -> Int {
        guard f[i] & N != 0 else { return -1 }
        var k = i + 1
        while k < hi && k - i < max && f[k] & N != 0 { k += 1 }
        return k
    }

    @inline(__always)
    private static func isCJK(_ v: UInt32) -> Bool {
        (v >= 0x4E00 && v <= 0x9FA5) || (v >= 0x3040 && v <= 0x30FF)
    }

    private static func matchCJK(_ c: UnsafeBufferPointer<UInt32>, _ i: Int, _ hi: Int) -> Int {
        guard isCJK(c[i]) else { return -1 }
        var k = i + 1
        while k < hi && isCJK(c[k]) { k += 1 }
        return k
    }

    @inline(__always)
    private static func isASCIIPunct(_ v: UInt32) -> Bool {
        (v >= 0x21 && v <= 0x2F) || (v >= 0x3A && v <= 0x40) || (v >= 0x5B && v <= 0x60) || (v >= 0x7B && v <= 0x7E)
    }

    @inline(__always)
    private static func isASCIIAlpha(_ v: UInt32) -> Bool { (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A }

    private static func matchDeepSeek(_ c: UnsafeBufferPointer<UInt32>, _ f: UnsafeBufferPointer<UInt8>, _ i: Int, _ hi: Int) -> Int {
        let P = CharClass.punct, Sy = CharClass.symbol, M = CharClass.mark
        let ch = c[i], fi = f[i]
        // [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+
        if isASCIIPunct(ch) && i + 1 < hi && isASCIIAlpha(c[i + 1]) {
            var k = i + 2
            while k < hi && isASCIIAlpha(c[k]) { k += 1 }
            return k
        }
        // [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
        if fi & (L | P | Sy) == 0 && ch != cr && ch != lf && i + 1 < hi && f[i + 1] & (L | M) != 0 {
            return run(f, i + 2, hi, L | M)
        }
        if fi & (L | M) != 0 { return run(f, i + 1, hi, L | M) }
        // ` ?[\p{P}\p{S}]+[\r\n]*`
        let j = (ch == sp && i + 1 < hi && f[i + 1] & (P | Sy) != 0) ? i + 1 : i
        if f[j] & (P | Sy) != 0 {
            var k = run(f, j + 1, hi, P | Sy)
            while k < hi && (c[k] == cr || c[k] == lf) { k += 1 }
            return k
        }
        if fi & S != 0 { return whitespace(c, f, i, hi, newlineRule: true) }
        return -1
    }
}
