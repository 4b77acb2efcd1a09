import Kernels

// Quantisation to ggml block formats, the inverse of Dequantize.swift, computed as gguf-py's
// `gguf/quants.py` does (which is bit-exact with llama.cpp's `quantize_row_*_ref`): every
// operation is a separate Float32 operation in the reference's order (Swift does not contract
// a*b+c into an FMA), and scales are rounded to f16 with round-to-nearest-even (numpy's
// `astype(np.float16)`, ggml's GGML_FP32_TO_FP16).

/// The types `quantize` can write.
public let quantizableTypes: [TensorType] = [.f32, .f16, .bf16, .q8_0, .q4_0]

/// Encodes `count` floats (a multiple of `type.blockSize`) as `type`, writing
/// `type.rowBytes(count)` bytes to `dst`. Types outside `quantizableTypes` are a programming error.
public func quantize(_ type: TensorType, _ src: UnsafePointer<Float>, count: Int, into dst: UnsafeMutableRawPointer) {
    precondition(count >= 0 && count % type.blockSize == 0, "quantize: \(count) is not a multiple of \(type.name)'s block size \(type.blockSize)")
    switch type {
    case .f32: dst.copyMemory(from: src, byteCount: count * 4)
    case .f16:
        for i in 0..<count { dst.storeBytes(of: Float16(src[i]).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
    case .bf16:
        for i in 0..<count { dst.storeBytes(of: bf16Bits(src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
    case .q8_0: for b in 0..<count / 32 { quantizeBlockQ8_0(src + 32 * b, dst + 34 * b) }
    case .q4_0: for b in 0..<count / 32 { quantizeBlockQ4_0(src + 32 * b, dst + 18 * b) }
    default: preconditionFailure("quantize: \(type.name) is not supported (supported: \(quantizableTypes.map(\.name)))")
    }
}

/// A whole tensor of `rows × cols` floats encoded as `type`, rows quantised in parallel.
public func quantizeRows(_ type: TensorType, _ src: [Float], rows: Int, cols: Int) -> [UInt8] {
    precondition(src.count == rows * cols)
    let rowBytes = type.rowBytes(cols)
    var out = [UInt8](repeating: 0, count: rows * rowBytes)
    src.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBytes { o in
            let sp = s.baseAddress!, op = o.baseAddress!
            Parallel.forEachRange(rows, minPerWorker: 64) { range in
                for r in range { quantize(type, sp + r * cols, count: cols, into: op + r * rowBytes) }
            }
        }
    }
    return out
}

/// gguf-py's BF16.quantize_blocks / ggml_compute_fp32_to_bf16: NaN forced quiet, else
/// round-to-nearest-even on the upper 16 bits.
@inline(__always)
func bf16Bits(_ x: Float) -> UInt16 {
    let n = x.bitPattern
    if n & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: ((n & 0xffff_0000) | (64 << 16)) >> 16) }
    return UInt16(truncatingIfNeeded: (UInt64(n) + UInt64(0x7fff + ((n >> 16) & 1))) >> 16)
}

/// Q8_0: d = max|x| / 127, q = round-half-away(x · (1/d)), d stored as f16.
@inline(__always)
private func quantizeBlockQ8_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    var amax: Float = 0
    for j in 0..<32 { amax = max(amax, abs(x[j])) }
    let d = amax / 127
    let id: Float = d == 0 ? 0 : 1 / d
    out.storeBytes(of: Float16(d).bitPattern.littleEndian, as: UInt16.self)
    for j in 0..<32 {
        // np_roundf / C roundf: halves away from zero.
        let r = (x[j] * id).rounded(.toNearestOrAwayFromZero)
        out.storeBytes(of: r.isNaN ? 0 : Int8(max(-128, min(127, r))), toByteOffset: 2 + j, as: Int8.self)
    }
}

/// Q4_0: the element of largest magnitude (first one on ties) with its sign gives d = max / −8;
/// q = min(15, trunc(x · (1/d) + 8.5)); element j in the low nibble of byte j, element j+16 in
/// its high nibble.
@inline(__always)
private func quantizeBlockQ4_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    var amax: Float = 0, mx: Float = 0
    for j in 0..<32 where amax < abs(x[j]) { amax = abs(x[j]); mx = x[j] }
    let d = mx / -8
    let id: Float = d == 0 ? 0 : 1 / d
    out.storeBytes(of: Float16(d).bitPattern.littleEndian, as: UInt16.self)
    @inline(__always) func q(_ v: Float) -> UInt8 {
        let t = (v * id + 8.5).rounded(.towardZero)
        return t.isNaN ? 0 : UInt8(min(15, max(0, t)))
    }
    for j in 0..<16 {
        out.storeBytes(of: q(x[j]) | (q(x[j + 16]) << 4), toByteOffset: 2 + j, as: UInt8.self)
    }
}
