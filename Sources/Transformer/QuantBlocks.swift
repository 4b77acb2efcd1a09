import Kernels

// Compiled twice: here (for -target-cpu haswell) and, through a link, in QuantDot512 (for
// skylake-avx512), so both kernels unpack a block and sum lanes with the same source.

/// Lane sums in one fixed tree, for every kernel that ends with one.
enum Lanes {
    /// Σ of 8 lanes as a tree, (l0+l4 + l2+l6) + (l1+l5 + l3+l7): 3 dependent adds instead of
    /// the 7 of `SIMD.sum()` (which Swift lowers to a chain of scalar adds).
    @inline(__always)
    static func sum(_ v: SIMD8<Float>) -> Float {
        let s4 = v.lowHalf + v.highHalf
        let s2 = s4.lowHalf + s4.highHalf
        return s2[0] + s2[1]
    }

    /// Σ of 16 lanes: the 8-lane tree of the sum of the two halves.
    @inline(__always)
    static func sum(_ v: SIMD16<Float>) -> Float { sum(v.lowHalf + v.highHalf) }
}

/// A 32-element quantised block unpacked for `QuantDot`: its weights as d·q (exact) in two
/// 16-lane vectors (elements 0…15, 16…31), and its min (0 when the format has none).
protocol QuantBlock {
    static var bytes: Int { get }
    static var hasMin: Bool { get }
    static func unpack16(_ p: UnsafeRawPointer) -> ((SIMD16<Float>, SIMD16<Float>), Float)
}

extension QuantBlock {
    /// `unpack16` as four 8-lane vectors (elements 0…31 in order).
    @inline(__always)
    static func unpack(_ p: UnsafeRawPointer) -> ((SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>), Float) {
        let ((lo, hi), m) = unpack16(p)
        return ((lo.lowHalf, lo.highHalf, hi.lowHalf, hi.highHalf), m)
    }
}

/// Q4_1 block: f16 d, f16 m, 16 bytes of nibbles; w = d·q + m; low nibbles are elements
/// 0…15, high nibbles 16…31. Σ w x = Σ (d·q) x + m · Σ x.
enum Q4_1Block: QuantBlock {
    static var bytes: Int { 20 }
    static var hasMin: Bool { true }
    @inline(__always)
    static func unpack16(_ p: UnsafeRawPointer) -> ((SIMD16<Float>, SIMD16<Float>), Float) {
        let d = SIMD16<Float>(repeating: Float(p.loadUnaligned(as: Float16.self)))
        let m = Float(p.loadUnaligned(fromByteOffset: 2, as: Float16.self))
        let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        let lo = Widen.float(q & 0x0F) * d, hi = Widen.float(q &>> 4) * d
        return ((lo, hi), m)
    }
}

/// Q8_0 block: f16 d, 32 signed bytes; w = d·q.
enum Q8_0Block: QuantBlock {
    static var bytes: Int { 34 }
    static var hasMin: Bool { false }
    @inline(__always)
    static func unpack16(_ p: UnsafeRawPointer) -> ((SIMD16<Float>, SIMD16<Float>), Float) {
        let d = SIMD16<Float>(repeating: Float(p.loadUnaligned(as: Float16.self)))
        let q0 = Widen.float(p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * d
        let q1 = Widen.float(p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)) * d
        return ((q0, q1), 0)
    }
}
