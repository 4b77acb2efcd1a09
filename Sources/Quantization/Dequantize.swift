// Dequantisation of ggml block formats, matching gguf-py's `gguf/quants.py` (and llama.cpp's
// `dequantize_row_*`) bit for bit: every product and sum is a separate Float32 operation in the
// same order as the reference (Swift does not contract a*b+c into an FMA), e.g. q4_1 is
// `d * q + m` and q4_K is `(d * sc) * q - (dmin * m)`.
// Loops go one block at a time with SIMD loads of the packed bytes; with -target-cpu haswell the
// Float16 -> Float conversions are vcvtph2ps.

/// Dequantise `count` elements (a multiple of `type.blockSize`) starting at a block boundary.
public func dequantize(_ type: TensorType, _ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
    precondition(count >= 0 && count % type.blockSize == 0, "dequantize: \(count) is not a multiple of \(type.name)'s block size \(type.blockSize)")
    let blocks = count / type.blockSize
    switch type {
    case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
    case .f16: dequantizeF16(src, count, dst)
    case .bf16: dequantizeBF16(src, count, dst)
    case .q4_0: dequantizeQ4_0(src, blocks, dst)
    case .q4_1: dequantizeQ4_1(src, blocks, dst)
    case .q5_0: dequantizeQ5_0(src, blocks, dst)
    case .q5_1: dequantizeQ5_1(src, blocks, dst)
    case .q8_0: dequantizeQ8_0(src, blocks, dst)
    case .q4_K: dequantizeQ4_K(src, blocks, dst)
    case .q5_K: dequantizeQ5_K(src, blocks, dst)
    case .q6_K: dequantizeQ6_K(src, blocks, dst)
    }
}

@inline(__always)
private func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
}

@inline(__always)
private func store<V: SIMD>(_ v: V, _ dst: UnsafeMutablePointer<Float>, _ index: Int) where V.Scalar == Float {
    UnsafeMutableRawPointer(dst + index).storeBytes(of: v, as: V.self)
}

private func dequantizeF16(_ src: UnsafeRawPointer, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 16 <= count {
        let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<Float16>.self)
        store(SIMD16<Float>(h), dst, i)
        i += 16
    }
    while i < count {
        dst[i] = half(src, 2 * i)
        i += 1
    }
}

private func dequantizeBF16(_ src: UnsafeRawPointer, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 16 <= count {
        let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)
        let w = SIMD16<UInt32>(truncatingIfNeeded: h) &<< 16
        store(unsafeBitCast(w, to: SIMD16<Float>.self), dst, i)
        i += 16
    }
    while i < count {
        dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
        i += 1
    }
}

private func dequantizeQ8_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
    for b in 0 ..< blocks {
        let p = src + b * 34
        let d = half(p, 0)
        let q0 = SIMD16<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self))
        let q1 = SIMD16<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self))
        store(SIMD16<Float>(q0) * d, dst, b * 32)
        store(SIMD16<Float>(q1) * d, dst, b * 32 + 16)
    }
}

/// 16 unsigned bytes widened to Int32 lanes. (SIMD16 throughout: SIMD32 integer/float
/// conversions are not lowered to vector instructions and run ~100x slower.)
@inline(__always)
private func bytes16(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<Int32> {
    SIMD16<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self))
}

/// Low and high nibbles of 16 packed bytes as floats: elements j and j+16 of a 32-block.
@inline(__always)
private func nibbles(_ p: UnsafeRawPointer, _ offset: Int) -> (SIMD16<Float>, SIMD16<Float>) {
    let q = SIMD16<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self))
    return (SIMD16<Float>(q & 0x0F), SIMD16<Float>(q &>> 4))
}

private func dequantizeQ4_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
    for b in 0 ..< blocks {
        let p = src + b * 18
        let d = half(p, 0)
        let (lo, hi) = nibbles(p, 2)
        store((lo - 8) * d, dst, b * 32)
        store((hi - 8) * d, dst, b * 32 + 16)
    }
}

private func dequantizeQ4_1(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
    for b in 0 ..< blocks {
        let p = src + b * 20
        let d = half(p, 0), m = half(p, 2)
        let (lo, hi) = nibbles(p, 4)
        store(lo * d + m, dst, b * 32)
        store(hi * d + m, dst, b * 32 + 16)
    }
}

private let bitIndex16 = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

/// 5-bit values of a q5 block: nibbles at `qsOffset`, 5th bits in the u32 at `qhOffset`.
@inline(__always)
private func fiveBits(_ p: UnsafeRawPointer, qhOffset: Int, qsOffset: Int) -> (SIMD16<Float>, SIMD16<Float>) {
    let qh = SIMD16<UInt32>(repeating: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: qhOffset, as: UInt32.self)))
    let q = SIMD16<UInt32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: qsOffset, as: SIMD16<UInt8>.self))
    let hLo = ((qh &>> bitIndex16) & 1) &<< 4
    let hHi = ((qh &>> (bitIndex16 &+ 16)) & 1) &<< 4
    return (SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: (q & 0x0F) | hLo)),
            SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: (q &>> 4) | hHi)))
}

private func dequantizeQ5_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
    for b in 0 ..< blocks {
        let p = src + b * 22
        let d = half(p, 0)
        let (lo, hi) = fiveBits(p, qhOffset: 2, qsOffset: 6)
        store((lo - 16) * d, dst, b * 32)
        store((hi - 16) * d, dst, b * 32 + 16)
    }
}

private func dequantizeQ5_1(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
    for b in 0 ..< blocks {
        let p = src + b * 24
        let d = half(p, 0), m = half(p, 2)
        let (lo, hi) = fiveBits(p, qhOffset: 4, qsOffset: 8)
        store(lo * d + m, dst, b * 32)
        store(hi * d + m, dst, b * 32 + 16)
    }
}

/// The eight 6-bit (scale, min) pairs of a q4_K / q5_K block (llama.cpp `get_scale_min_k4`).
@inline(__always)
private func scaleMinK4(_ s: UnsafeRawPointer) -> (sc: SIMD8<Float>, m: SIMD8<Float>) {
    var sc = SIMD8<Float>(), m = SIMD8<Float>()
    let q = s.assumingMemoryBound(to: UInt8.self)
    for j in 0 ..< 4 {
        sc[j] = Float(q[j] & 63)
        m[j] = Float(q[j + 4] & 63)
        sc[j + 4] = Float((q[j + 8] & 0x0F) | ((q[j] >> 6) << 4))
        m[j + 4] = Float((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4))
    }
    return (sc, m)
}

private func dequantizeQ4_K(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
    for b in 0 ..< blocks {
        let p = src + b * 144
        let (sc, mn) = scaleMinK4(p + 4)
        let ds = half(p, 0) * sc, ms = half(p, 2) * mn
        let y = dst + b * 256
        for j in 0 ..< 4 {
            for u in 0 ..< 2 {
                let q = bytes16(p, 16 + 32 * j + 16 * u)
                store(SIMD16<Float>(q & 0x0F) * ds[2 * j] - ms[2 * j], y, 64 * j + 16 * u)
                store(SIMD16<Float>(q &>> 4) * ds[2 * j + 1] - ms[2 * j + 1], y, 64 * j + 32 + 16 * u)
            }
        }
    }
}

private func dequantizeQ5_K(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
    for b in 0 ..< blocks {
        let p = src + b * 176
        let (sc, mn) = scaleMinK4(p + 4)
        let ds = half(p, 0) * sc, ms = half(p, 2) * mn
        let qh = (bytes16(p, 16), bytes16(p, 32))
        let y = dst + b * 256
        for j in 0 ..< 4 {
            for u in 0 ..< 2 {
                let q = bytes16(p, 48 + 32 * j + 16 * u)
                let h = u == 0 ? qh.0 : qh.1
                let lo = (q & 0x0F) | (((h &>> Int32(2 * j)) & 1) &<< 4)
                let hi = (q &>> 4) | (((h &>> Int32(2 * j + 1)) & 1) &<< 4)
                store(SIMD16<Float>(lo) * ds[2 * j] - ms[2 * j], y, 64 * j + 16 * u)
                store(SIMD16<Float>(hi) * ds[2 * j + 1] - ms[2 * j + 1], y, 64 * j + 32 + 16 * u)
            }
        }
    }
}

private func dequantizeQ6_K(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
    for b in 0 ..< blocks {
        let p = src + b * 210
        let d = half(p, 208)
        let y = dst + b * 256
        for h in 0 ..< 2 {
            let s = p.loadUnaligned(fromByteOffset: 192 + 8 * h, as: SIMD8<Int8>.self)
            let ds = d * SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: s))
            let out = y + 128 * h
            // Elements l and l+32, l+64, l+96 (l in 16u..<16u+16) share ql/qh bytes; scale index l/16.
            for u in 0 ..< 2 {
                let ql0 = bytes16(p, 64 * h + 16 * u)
                let ql1 = bytes16(p, 64 * h + 32 + 16 * u)
                let qh = bytes16(p, 128 + 32 * h + 16 * u)
                let q1 = (ql0 & 0x0F) | ((qh & 3) &<< 4)
                let q2 = (ql1 & 0x0F) | (((qh &>> 2) & 3) &<< 4)
                let q3 = (ql0 &>> 4) | (((qh &>> 4) & 3) &<< 4)
                let q4 = (ql1 &>> 4) | (((qh &>> 6) & 3) &<< 4)
                store(SIMD16<Float>(q1 &- 32) * ds[u], out, 16 * u)
                store(SIMD16<Float>(q2 &- 32) * ds[u + 2], out, 32 + 16 * u)
                store(SIMD16<Float>(q3 &- 32) * ds[u + 4], out, 64 + 16 * u)
                store(SIMD16<Float>(q4 &- 32) * ds[u + 6], out, 96 + 16 * u)
            }
        }
    }
}
