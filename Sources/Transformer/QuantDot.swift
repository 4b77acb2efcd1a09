import Kernels
import ModelFiles

/// Fused "dequantise and dot" kernels for single-token decoding: y[r] = row_r(W) · x.
///
/// Why keep weights quantised instead of dequantising at load: decoding one token reads every
/// weight once, so its speed is bound by bytes read. Q4_1 is 0.625 B/weight against 4 B for
/// fp32, and the file stays memory-mapped (RSS ≈ file size, not 4–6×). Prompts and training
/// batches instead dequantise a block of rows into a scratch buffer and call sgemm, where the
/// dequantisation cost is shared by every token of the batch. Measured with
/// scripts/bench_infer.sh (SmolLM2 Q4_1, 2 threads, 512-token prompt, 128 new tokens): see
/// the README's speed table; fp32-at-load decodes ~25% slower at 3.6× the memory, so the
/// default keeps weights quantised.
enum QuantDot {
    typealias F16 = SIMD16<Float>

    /// Σ_j w_j x_j over one row of `cols` elements stored as `type` at `row`.
    /// `xBlockSums` holds Σ x over each 32-element block (used by formats with a per-block min).
    @inline(__always)
    static func dotRow(_ type: TensorType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ cols: Int,
                       _ xBlockSums: UnsafePointer<Float>, _ scratch: UnsafeMutablePointer<Float>) -> Float {
        switch type {
        case .f32:
            return Vec.dot(row.assumingMemoryBound(to: Float.self), x, cols)
        case .q4_1:
            return dotQ4_1(row, x, cols, xBlockSums)
        case .q8_0:
            return dotQ8_0(row, x, cols)
        default:
            dequantize(type, row, count: cols, into: scratch)
            return Vec.dot(scratch, x, cols)
        }
    }

    /// Σ_j w_j x_k,j for four vectors x_k = x + k·ldx at once (`xBlockSums` likewise ldSums
    /// apart), or nil when `type` has no four-vector kernel. Each vector's result is computed
    /// with exactly the operations, in the order, of `dotRow` on it alone (so it is
    /// bit-identical to it); the row's blocks are unpacked once for the four.
    @inline(__always)
    static func dotRow4(_ type: TensorType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ ldx: Int, _ cols: Int,
                        _ xBlockSums: UnsafePointer<Float>, _ ldSums: Int) -> SIMD4<Float>? {
        switch type {
        case .q4_1: return dotQ4_1x4(row, x, ldx, cols, xBlockSums, ldSums)
        case .q8_0: return dotQ8_0x4(row, x, ldx, cols)
        default: return nil
        }
    }

    /// Q4_1 block: f16 d, f16 m, 16 bytes of nibbles; w = d·q + m; low nibbles are elements
    /// 0…15, high nibbles 16…31. Σ w x = d · Σ q x + m · Σ x.
    @inline(__always)
    static func dotQ4_1(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ cols: Int, _ xBlockSums: UnsafePointer<Float>) -> Float {
        var total = F16()
        var mins: Float = 0
        let nb = cols / 32
        var p = row
        for b in 0..<nb {
            let d = Float(p.loadUnaligned(as: Float16.self))
            let m = Float(p.loadUnaligned(fromByteOffset: 2, as: Float16.self))
            let bytes = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
            let lo = Widen.float(bytes & 0x0F)
            let hi = Widen.float(bytes &>> 4)
            let xb = x + b * 32
            var acc = lo * Vec.load(xb)
            acc.addProduct(hi, Vec.load(xb + 16))
            total.addProduct(F16(repeating: d), acc)
            mins += m * xBlockSums[b]
            p += 20
        }
        return total.sum() + mins
    }

    /// `dotQ4_1` on four vectors (see `dotRow4`).
    @inline(__always)
    static func dotQ4_1x4(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ ldx: Int, _ cols: Int,
                          _ xBlockSums: UnsafePointer<Float>, _ ldSums: Int) -> SIMD4<Float> {
        var t0 = F16(), t1 = F16(), t2 = F16(), t3 = F16()
        var m0: Float = 0, m1: Float = 0, m2: Float = 0, m3: Float = 0
        let x0 = x, x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx
        let s0 = xBlockSums, s1 = xBlockSums + ldSums, s2 = xBlockSums + 2 * ldSums, s3 = xBlockSums + 3 * ldSums
        let nb = cols / 32
        var p = row
        for b in 0..<nb {
            let d = Float(p.loadUnaligned(as: Float16.self))
            let m = Float(p.loadUnaligned(fromByteOffset: 2, as: Float16.self))
            let bytes = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
            let lo = Widen.float(bytes & 0x0F)
            let hi = Widen.float(bytes &>> 4)
            let dv = F16(repeating: d), o = b * 32
            var a0 = lo * Vec.load(x0 + o); a0.addProduct(hi, Vec.load(x0 + o + 16)); t0.addProduct(dv, a0)
            var a1 = lo * Vec.load(x1 + o); a1.addProduct(hi, Vec.load(x1 + o + 16)); t1.addProduct(dv, a1)
            var a2 = lo * Vec.load(x2 + o); a2.addProduct(hi, Vec.load(x2 + o + 16)); t2.addProduct(dv, a2)
            var a3 = lo * Vec.load(x3 + o); a3.addProduct(hi, Vec.load(x3 + o + 16)); t3.addProduct(dv, a3)
            m0 += m * s0[b]; m1 += m * s1[b]; m2 += m * s2[b]; m3 += m * s3[b]
            p += 20
        }
        return SIMD4(t0.sum() + m0, t1.sum() + m1, t2.sum() + m2, t3.sum() + m3)
    }

    /// Q8_0 block: f16 d, 32 signed bytes; w = d·q.
    @inline(__always)
    static func dotQ8_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ cols: Int) -> Float {
        var total = F16()
        let nb = cols / 32
        var p = row
        for b in 0..<nb {
            let d = Float(p.loadUnaligned(as: Float16.self))
            let q0 = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)
            let q1 = p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)
            let xb = x + b * 32
            var acc = Widen.float(q0) * Vec.load(xb)
            acc.addProduct(Widen.float(q1), Vec.load(xb + 16))
            total.addProduct(F16(repeating: d), acc)
            p += 34
        }
        return total.sum()
    }

    /// `dotQ8_0` on four vectors (see `dotRow4`).
    @inline(__always)
    static func dotQ8_0x4(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ ldx: Int, _ cols: Int) -> SIMD4<Float> {
        var t0 = F16(), t1 = F16(), t2 = F16(), t3 = F16()
        let x0 = x, x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx
        let nb = cols / 32
        var p = row
        for b in 0..<nb {
            let d = Float(p.loadUnaligned(as: Float16.self))
            let q0 = Widen.float(p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self))
            let q1 = Widen.float(p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self))
            let dv = F16(repeating: d), o = b * 32
            var a0 = q0 * Vec.load(x0 + o); a0.addProduct(q1, Vec.load(x0 + o + 16)); t0.addProduct(dv, a0)
            var a1 = q0 * Vec.load(x1 + o); a1.addProduct(q1, Vec.load(x1 + o + 16)); t1.addProduct(dv, a1)
            var a2 = q0 * Vec.load(x2 + o); a2.addProduct(q1, Vec.load(x2 + o + 16)); t2.addProduct(dv, a2)
            var a3 = q0 * Vec.load(x3 + o); a3.addProduct(q1, Vec.load(x3 + o + 16)); t3.addProduct(dv, a3)
            p += 34
        }
        return SIMD4(t0.sum(), t1.sum(), t2.sum(), t3.sum())
    }
}
