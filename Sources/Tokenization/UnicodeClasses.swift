/// Character classes used by the pre-tokenizer patterns, with the meaning Oniguruma
/// (HF `tokenizers`) gives them: \p{L}, \p{N}, \p{P}, \p{S}, \p{M} are general-category
/// groups; \s is Zs/Zl/Zp plus U+0009–U+000D and U+0085 (= the White_Space property).
enum CharClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 4
    static let punct: UInt8 = 8
    static let symbol: UInt8 = 16
    static let mark: UInt8 = 32

    /// Flags for the Basic Multilingual Plane, computed once.
    private static let bmp: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 0x10000)
        for v in 0..<0x10000 {
            guard let s = Unicode.Scalar(UInt32(v)) else { continue }
            table[v] = compute(s)
        }
        return table
    }()

    private static func compute(_ s: Unicode.Scalar) -> UInt8 {
        let p = s.properties
        var f: UInt8 = p.isWhitespace ? space : 0
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            f |= letter
        case .decimalNumber, .letterNumber, .otherNumber:
            f |= number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            f |= punct
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            f |= symbol
        case .nonspacingMark, .spacingMark, .enclosingMark:
            f |= mark
        default:
            break
        }
        return f
    }

    @inline(__always)
    static func flags(_ v: UInt32) -> UInt8 {
        if v < 0x10000 { return bmp[Int(v)] }
        guard let s = Unicode.Scalar(v) else { return 0 }
        return compute(s)
    }
}
