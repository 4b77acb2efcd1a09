/// Integer → Float lane conversions for dequantisation. Swift's generic
/// `SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded:))` is not inlined here and ran at
/// 1.9 G elements/s; this per-lane form vectorises (vpmovzxbd + vcvtdq2ps) at 6.3 G/s.
public enum Widen {
    @inlinable @inline(__always)
    public static func float(_ b: SIMD16<UInt8>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = Float(b[i]) }
        return r
    }

    @inlinable @inline(__always)
    public static func float(_ b: SIMD16<Int8>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = Float(b[i]) }
        return r
    }
}
