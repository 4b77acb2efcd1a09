import Kernels

// Compiled twice: here (for -target-cpu haswell) and, through a link, in QuantDot512 (for
// x86-64-v4), so both kernels unpack a block with the same source.

/// A 32-element quantised block unpacked for `QuantDot`: its weights as d·q (exact) in four
/// 8-lane vectors (elements 0…31 in order), and its min (0 when the format has none).
protocol QuantBlock {
    static var bytes: Int { get }
    static var hasMin: Bool { get }
    static func unpack(_ p: UnsafeRawPointer) -> ((SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>), Float)
}

/// Q4_1 block: f16 d, f16 m, 16 bytes of nibbles; w = d·q + m; low nibbles are elements
/// 0…15, high nibbles 16…31. Σ w x = Σ (d·q) x + m · Σ x.
enum Q4_1Block: QuantBlock {
    static var bytes: Int { 20 }
    static var hasMin: Bool { true }
    @inline(__always)
    static func unpack(_ p: UnsafeRawPointer) -> ((SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>), Float) {
        let d = SIMD16<Float>(repeating: Float(p.loadUnaligned(as: Float16.self)))
        let m = Float(p.loadUnaligned(fromByteOffset: 2, as: Float16.self))
        let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        let lo = Widen.float(q & 0x0F) * d, hi = Widen.float(q &>> 4) * d
        return ((lo.lowHalf, lo.highHalf, hi.lowHalf, hi.highHalf), m)
    }
}

/// Q8_0 block: f16 d, 32 signed bytes; w = d·q.
enum Q8_0Block: QuantBlock {
    static var bytes: Int { 34 }
    static var hasMin: Bool { false }
    @inline(__always)
    static func unpack(_ p: UnsafeRawPointer) -> ((SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>), Float) {
        let d = SIMD16<Float>(repeating: Float(p.loadUnaligned(as: Float16.self)))
        let q0 = Widen.float(p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * d
        let q1 = Widen.float(p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)) * d
        return ((q0.lowHalf, q0.highHalf, q1.lowHalf, q1.highHalf), 0)
    }
}
