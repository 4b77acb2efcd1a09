/// GPT-2's reversible map between bytes and printable characters: byte-level BPE
/// vocabularies store every token as a string of these characters (space is "Ġ").
enum ByteLevel {
    /// byte → Unicode scalar value of its printable stand-in.
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var extra: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = extra
                extra += 1
            }
        }
        return table
    }()

    /// Unicode scalar value → byte, -1 where the scalar is not a stand-in (values 0..<324).
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, s) in byteToScalar.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// The vocabulary form of raw bytes.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = String.UnicodeScalarView()
        for b in bytes { out.append(Unicode.Scalar(byteToScalar[Int(b)])!) }
        return String(out)
    }

    /// The bytes a vocabulary token stands for, or nil when a character is not a byte
    /// stand-in (added tokens such as "<｜end▁of▁sentence｜>" then decode as their own UTF-8,
    /// as the HF ByteLevel decoder does).
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            let v = Int(s.value)
            guard v < scalarToByte.count, scalarToByte[v] >= 0 else { return nil }
            out.append(UInt8(scalarToByte[v]))
        }
        return out
    }
}
