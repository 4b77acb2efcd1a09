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
    typealias F8 = SIMD8<Float>
    typealias F16 = SIMD16<Float>

    @inline(__always) static func hsum(_ v: F8) -> Float { Lanes.sum(v) }
    @inline(__always) static func hsum(_ v: F16) -> Float { Lanes.sum(v) }

    /// One output's arithmetic, whatever the number of vectors sharing the row (so a batched
    /// decode step gives each sequence the bits of its one-at-a-time step): per 32-element block,
    /// the block's weights are unpacked to d·q (exact in Float: an f16 scale times an integer of
    /// ≤ 8 bits), and four fused multiply-adds of 8 lanes each accumulate (d·q)·x into one
    /// 8-lane accumulator; a format with a per-block min adds m·Σx to a scalar per block. The
    /// result is the accumulator's lanes summed as a tree (`hsum`) plus the mins. Vectors are taken 8, 4 or 1 at a time (one
    /// unpacking per block for all of them); each vector's operations and their order are the
    /// same in every group.
    ///
    /// y[i·ldy] = row · x_i for the `n` vectors x_i = x + i·ldx; `sums` holds Σx over each block,
    /// block-major (sums[b·ldSums + i]). x and sums must hold `paddedCount(n)` vectors: a last
    /// group of 5–7 runs as 8 and one of 2–3 as 4, their extra outputs dropped. Returns false when
    /// `type` has no fused kernel.
    @inline(__always)
    static func dotRows(_ type: TensorType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ ldx: Int, _ n: Int,
                        _ cols: Int, _ sums: UnsafePointer<Float>, _ ldSums: Int,
                        _ y: UnsafeMutablePointer<Float>, _ ldy: Int) -> Bool {
        switch type {
        case .q4_1: dotRows(Q4_1Block.self, row, x, ldx, n, cols, sums, ldSums, y, ldy)
        case .q8_0: dotRows(Q8_0Block.self, row, x, ldx, n, cols, sums, ldSums, y, ldy)
        default: return false
        }
        return true
    }

    @inline(__always)
    static func dotRows<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ ldx: Int, _ n: Int,
                                        _ cols: Int, _ sums: UnsafePointer<Float>, _ ldSums: Int,
                                        _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        var i = 0
        while n - i >= 5 {
            let r = dot8(B.self, row, x + i * ldx, ldx, cols, sums + i, ldSums)
            for j in 0..<Swift.min(8, n - i) { y[(i + j) * ldy] = r[j] }
            i += 8
        }
        if n - i >= 2 {
            let r = dot4(B.self, row, x + i * ldx, ldx, cols, sums + i, ldSums)
            for j in 0..<(n - i) { y[(i + j) * ldy] = r[j] }
        } else if n - i == 1 {
            y[i * ldy] = dot1(B.self, row, x + i * ldx, cols, sums + i, ldSums)
        }
    }

    /// The groups of 8 and 4 vectors `dotRows` takes for n outputs, in order (a lone last vector,
    /// n % 8 == 1, is not a group: it runs as `dot1`).
    static func groups(_ n: Int) -> [(start: Int, size: Int)] {
        var r: [(start: Int, size: Int)] = [], i = 0
        while n - i >= 5 { r.append((i, 8)); i += 8 }
        if n - i >= 2 { r.append((i, 4)) }
        return r
    }

    /// `dot1` for a format chosen at run time (Q4_1 or Q8_0; 0 for others, which have no kernel).
    @inline(__always)
    static func dot1(_ type: TensorType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ cols: Int,
                     _ sums: UnsafePointer<Float>, _ ldSums: Int) -> Float {
        switch type {
        case .q4_1: dot1(Q4_1Block.self, row, x, cols, sums, ldSums)
        case .q8_0: dot1(Q8_0Block.self, row, x, cols, sums, ldSums)
        default: 0
        }
    }

    /// Vectors `dotRows` reads for n outputs: n rounded up to a multiple of 8 when the last group
    /// has 5–7, of 4 when it has 2–3 (one alone runs as one).
    static func paddedCount(_ n: Int) -> Int {
        let rem = n % 8
        return rem >= 5 ? n - rem + 8 : rem >= 2 ? n - rem + 4 : n
    }

    /// acc += w · x[0..<32] as four 8-lane fused multiply-adds, in this order.
    @inline(__always)
    static func accumulate(_ acc: inout F8, _ w: (F8, F8, F8, F8), _ x: UnsafePointer<Float>) {
        let p = UnsafeRawPointer(x)
        acc.addProduct(w.0, p.loadUnaligned(as: F8.self))
        acc.addProduct(w.1, p.loadUnaligned(fromByteOffset: 32, as: F8.self))
        acc.addProduct(w.2, p.loadUnaligned(fromByteOffset: 64, as: F8.self))
        acc.addProduct(w.3, p.loadUnaligned(fromByteOffset: 96, as: F8.self))
    }

    @inline(__always)
    static func dot1<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ cols: Int,
                                    _ sums: UnsafePointer<Float>, _ ldSums: Int) -> Float {
        var a = F8(), mins: Float = 0
        var p = row
        for b in 0..<(cols / 32) {
            let (w, m) = B.unpack(p)
            accumulate(&a, w, x + b * 32)
            if B.hasMin { mins = mins + m * sums[b * ldSums] }
            p += B.bytes
        }
        return hsum(a) + mins
    }

    /// `dot1` of four consecutive rows (rowBytes apart) with one vector, interleaved: each
    /// output's operations are dot1's, in dot1's order (so the bits are too), but four rows give
    /// four independent accumulator chains. One vector alone is otherwise held to the latency of
    /// its chain (four dependent fused multiply-adds per block, ~16 cycles).
    @inline(__always)
    static func dot1x4<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ rowBytes: Int, _ x: UnsafePointer<Float>,
                                      _ cols: Int, _ sums: UnsafePointer<Float>) -> SIMD4<Float> {
        var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8()
        var m0: Float = 0, m1: Float = 0, m2: Float = 0, m3: Float = 0
        var p = row
        for b in 0..<(cols / 32) {
            let xb = x + b * 32
            let (w0, n0) = B.unpack(p); accumulate(&a0, w0, xb)
            let (w1, n1) = B.unpack(p + rowBytes); accumulate(&a1, w1, xb)
            let (w2, n2) = B.unpack(p + 2 * rowBytes); accumulate(&a2, w2, xb)
            let (w3, n3) = B.unpack(p + 3 * rowBytes); accumulate(&a3, w3, xb)
            if B.hasMin {
                let s = sums[b]
                m0 = m0 + n0 * s; m1 = m1 + n1 * s; m2 = m2 + n2 * s; m3 = m3 + n3 * s
            }
            p += B.bytes
        }
        return SIMD4(hsum(a0) + m0, hsum(a1) + m1, hsum(a2) + m2, hsum(a3) + m3)
    }

    /// y[r·ldy] = row_r · x for rows r0 ..< r0 + count of one vector (`dot1x4` four rows at a
    /// time, `dot1` for the rest). `sums`: Σx per block. Returns false when `type` has no kernel.
    @inline(__always)
    static func dotRowsOfOneVector(_ type: TensorType, _ data: UnsafeRawPointer, _ rowBytes: Int, _ rows: Range<Int>,
                                   _ x: UnsafePointer<Float>, _ cols: Int, _ sums: UnsafePointer<Float>,
                                   _ y: UnsafeMutablePointer<Float>) -> Bool {
        func run<B: QuantBlock>(_: B.Type) {
            var r = rows.lowerBound
            while r + 4 <= rows.upperBound {
                let v = dot1x4(B.self, data + r * rowBytes, rowBytes, x, cols, sums)
                y[r] = v[0]; y[r + 1] = v[1]; y[r + 2] = v[2]; y[r + 3] = v[3]
                r += 4
            }
            while r < rows.upperBound { y[r] = dot1(B.self, data + r * rowBytes, x, cols, sums, 1); r += 1 }
        }
        switch type {
        case .q4_1: run(Q4_1Block.self)
        case .q8_0: run(Q8_0Block.self)
        default: return false
        }
        return true
    }

    @inline(__always)
    static func dot4<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ ldx: Int, _ cols: Int,
                                    _ sums: UnsafePointer<Float>, _ ldSums: Int) -> SIMD4<Float> {
        var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8(), mins = SIMD4<Float>()
        var p = row
        for b in 0..<(cols / 32) {
            let (w, m) = B.unpack(p)
            let o = b * 32
            accumulate(&a0, w, x + o); accumulate(&a1, w, x + ldx + o)
            accumulate(&a2, w, x + 2 * ldx + o); accumulate(&a3, w, x + 3 * ldx + o)
            if B.hasMin {
                let s = UnsafeRawPointer(sums + b * ldSums).loadUnaligned(as: SIMD4<Float>.self)
                mins = mins + SIMD4(repeating: m) * s
            }
            p += B.bytes
        }
        return SIMD4(hsum(a0), hsum(a1), hsum(a2), hsum(a3)) + mins
    }

    @inline(__always)
    static func dot8<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ ldx: Int, _ cols: Int,
                                    _ sums: UnsafePointer<Float>, _ ldSums: Int) -> F8 {
        var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8(), a4 = F8(), a5 = F8(), a6 = F8(), a7 = F8(), mins = F8()
        var p = row
        for b in 0..<(cols / 32) {
            let (w, m) = B.unpack(p)
            let xb = x + b * 32
            accumulate(&a0, w, xb); accumulate(&a1, w, xb + ldx)
            accumulate(&a2, w, xb + 2 * ldx); accumulate(&a3, w, xb + 3 * ldx)
            accumulate(&a4, w, xb + 4 * ldx); accumulate(&a5, w, xb + 5 * ldx)
            accumulate(&a6, w, xb + 6 * ldx); accumulate(&a7, w, xb + 7 * ldx)
            if B.hasMin {
                let s = UnsafeRawPointer(sums + b * ldSums).loadUnaligned(as: F8.self)
                mins = mins + F8(repeating: m) * s
            }
            p += B.bytes
        }
        return F8(hsum(a0), hsum(a1), hsum(a2), hsum(a3), hsum(a4), hsum(a5), hsum(a6), hsum(a7)) + mins
    }
}
