import Quantization

/// `QuantDot.dotRows` for groups of 8 and 4 vectors in 16-lane (AVX-512) registers, with the same
/// bits as the 8-lane kernel.
///
/// Why the bits are the same: each 16-lane register holds two vectors side by side, 8 lanes each,
/// and the block's weights are repeated in both halves. A 16-lane fused multiply-add is then two
/// 8-lane ones, lane for lane, in the same order per accumulator (chunks 0, 1, 2, 3 of each
/// 32-element block); each half is summed with the 8-lane kernel's tree and the mins are added
/// alike. Why it is faster: a group of 8 vectors costs 16 fused multiply-adds per block instead
/// of 32, which bound the 8-lane kernel (`tunelab bench infer --batch 8`).
///
/// Compiled with -target-cpu x86-64-v4: call it only where `CPUFeatures.avx512` is true.
public enum QuantDot512 {
    typealias F8 = SIMD8<Float>
    typealias F16 = SIMD16<Float>

    /// Copies the vectors of one group (8 or 4, `ldx` apart) into the pair-interleaved layout the
    /// kernels read: per block b and chunk c (8 elements), pair p's 16 floats are vector 2p's
    /// chunk then vector 2p+1's, at xi[((b·4 + c)·(size/2) + p)·16].
    public static func interleave(_ x: UnsafePointer<Float>, _ ldx: Int, size: Int, cols: Int,
                                  into xi: UnsafeMutablePointer<Float>) {
        let pairs = size / 2
        for b in 0..<(cols / 32) {
            for c in 0..<4 {
                for p in 0..<pairs {
                    let o = ((b * 4 + c) * pairs + p) * 16, e = b * 32 + c * 8
                    (xi + o).update(from: x + 2 * p * ldx + e, count: 8)
                    (xi + o + 8).update(from: x + (2 * p + 1) * ldx + e, count: 8)
                }
            }
        }
    }

    /// y[j·ldy] = row · x_j for the group of `size` (8 or 4) vectors interleaved in `xi`; `sums`
    /// holds Σx per block, block-major (sums[b·ldSums + j]). Returns false for a format without a
    /// kernel (only Q4_1 and Q8_0 have one, as in `QuantDot`).
    public static func dotGroup(_ type: TensorType, _ row: UnsafeRawPointer, _ xi: UnsafePointer<Float>, size: Int,
                                _ cols: Int, _ sums: UnsafePointer<Float>, _ ldSums: Int,
                                _ y: UnsafeMutablePointer<Float>, _ ldy: Int, count: Int) -> Bool {
        switch type {
        case .q4_1: dotGroup(Q4_1Block.self, row, xi, size, cols, sums, ldSums, y, ldy, count)
        case .q8_0: dotGroup(Q8_0Block.self, row, xi, size, cols, sums, ldSums, y, ldy, count)
        default: return false
        }
        return true
    }

    /// `dotGroup` for two consecutive rows (rowBytes apart; outputs y and y + 1): each x load
    /// serves both rows' fused multiply-adds, halving the reads of the interleaved vectors (which
    /// for the 1536-wide down projection do not fit in L1). Each output's operations are
    /// `dotGroup`'s, so are its bits.
    public static func dotGroupTwoRows(_ type: TensorType, _ row: UnsafeRawPointer, _ rowBytes: Int, _ xi: UnsafePointer<Float>,
                                       size: Int, _ cols: Int, _ sums: UnsafePointer<Float>, _ ldSums: Int,
                                       _ y: UnsafeMutablePointer<Float>, _ ldy: Int, count: Int) -> Bool {
        switch type {
        case .q4_1: dotGroupTwoRows(Q4_1Block.self, row, rowBytes, xi, size, cols, sums, ldSums, y, ldy, count)
        case .q8_0: dotGroupTwoRows(Q8_0Block.self, row, rowBytes, xi, size, cols, sums, ldSums, y, ldy, count)
        default: return false
        }
        return true
    }

    @inline(__always)
    static func dotGroupTwoRows<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ rowBytes: Int, _ xi: UnsafePointer<Float>,
                                               _ size: Int, _ cols: Int, _ sums: UnsafePointer<Float>, _ ldSums: Int,
                                               _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ count: Int) {
        if size == 8 {
            let (r0, r1) = dot8x2(B.self, row, rowBytes, xi, cols, sums, ldSums)
            for j in 0..<count { y[j * ldy] = r0[j]; y[j * ldy + 1] = r1[j] }
        } else {
            let r0 = dot4(B.self, row, xi, cols, sums, ldSums), r1 = dot4(B.self, row + rowBytes, xi, cols, sums, ldSums)
            for j in 0..<count { y[j * ldy] = r0[j]; y[j * ldy + 1] = r1[j] }
        }
    }

    @inline(__always)
    static func dotGroup<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ xi: UnsafePointer<Float>, _ size: Int,
                                        _ cols: Int, _ sums: UnsafePointer<Float>, _ ldSums: Int,
                                        _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ count: Int) {
        if size == 8 {
            let r = dot8(B.self, row, xi, cols, sums, ldSums)
            for j in 0..<count { y[j * ldy] = r[j] }
        } else {
            let r = dot4(B.self, row, xi, cols, sums, ldSums)
            for j in 0..<count { y[j * ldy] = r[j] }
        }
    }

    @inline(__always) static func hsum(_ v: F8) -> Float { Lanes.sum(v) }

    /// `Attention.block` for one query row, as `DecodeAttention.row` compiled for AVX-512.
    public static func decodeAttentionRow(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                                          visible: Int, headDim hd: Int, scale: Float, probs p: UnsafeMutablePointer<Float>,
                                          out: UnsafeMutablePointer<Float>) {
        DecodeAttention.row(q: q, k: k, v: v, ldkv: ldkv, visible: visible, headDim: hd, scale: scale, probs: p, out: out)
    }

    /// A block's weights as four registers, each chunk c (8 elements) repeated in both halves.
    @inline(__always)
    static func repeated(_ w: (F16, F16)) -> (F16, F16, F16, F16) {
        (F16(lowHalf: w.0.lowHalf, highHalf: w.0.lowHalf), F16(lowHalf: w.0.highHalf, highHalf: w.0.highHalf),
         F16(lowHalf: w.1.lowHalf, highHalf: w.1.lowHalf), F16(lowHalf: w.1.highHalf, highHalf: w.1.highHalf))
    }

    @inline(__always)
    static func dot8<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ xi: UnsafePointer<Float>, _ cols: Int,
                                    _ sums: UnsafePointer<Float>, _ ldSums: Int) -> F8 {
        var a0 = F16(), a1 = F16(), a2 = F16(), a3 = F16(), mins = F8()
        var p = row
        var x = UnsafeRawPointer(xi)
        for b in 0..<(cols / 32) {
            let (w16, m) = B.unpack16(p)
            let w = repeated(w16)
            // Chunk by chunk: each accumulator sees chunks 0, 1, 2, 3 in order, as in the 8-lane kernel.
            a0.addProduct(w.0, x.loadUnaligned(as: F16.self))
            a1.addProduct(w.0, x.loadUnaligned(fromByteOffset: 64, as: F16.self))
            a2.addProduct(w.0, x.loadUnaligned(fromByteOffset: 128, as: F16.self))
            a3.addProduct(w.0, x.loadUnaligned(fromByteOffset: 192, as: F16.self))
            a0.addProduct(w.1, x.loadUnaligned(fromByteOffset: 256, as: F16.self))
            a1.addProduct(w.1, x.loadUnaligned(fromByteOffset: 320, as: F16.self))
            a2.addProduct(w.1, x.loadUnaligned(fromByteOffset: 384, as: F16.self))
            a3.addProduct(w.1, x.loadUnaligned(fromByteOffset: 448, as: F16.self))
            a0.addProduct(w.2, x.loadUnaligned(fromByteOffset: 512, as: F16.self))
            a1.addProduct(w.2, x.loadUnaligned(fromByteOffset: 576, as: F16.self))
            a2.addProduct(w.2, x.loadUnaligned(fromByteOffset: 640, as: F16.self))
            a3.addProduct(w.2, x.loadUnaligned(fromByteOffset: 704, as: F16.self))
            a0.addProduct(w.3, x.loadUnaligned(fromByteOffset: 768, as: F16.self))
            a1.addProduct(w.3, x.loadUnaligned(fromByteOffset: 832, as: F16.self))
            a2.addProduct(w.3, x.loadUnaligned(fromByteOffset: 896, as: F16.self))
            a3.addProduct(w.3, x.loadUnaligned(fromByteOffset: 960, as: F16.self))
            if B.hasMin {
                let s = UnsafeRawPointer(sums + b * ldSums).loadUnaligned(as: F8.self)
                mins = mins + F8(repeating: m) * s
            }
            p += B.bytes
            x += 1024
        }
        return F8(hsum(a0.lowHalf), hsum(a0.highHalf), hsum(a1.lowHalf), hsum(a1.highHalf),
                  hsum(a2.lowHalf), hsum(a2.highHalf), hsum(a3.lowHalf), hsum(a3.highHalf)) + mins
    }

    /// `dot8` of rows `row` and `row + rowBytes` at once, each with `dot8`'s operations.
    @inline(__always)
    static func dot8x2<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ rowBytes: Int, _ xi: UnsafePointer<Float>,
                                      _ cols: Int, _ sums: UnsafePointer<Float>, _ ldSums: Int) -> (F8, F8) {
        var a0 = F16(), a1 = F16(), a2 = F16(), a3 = F16(), mins = F8()
        var b0 = F16(), b1 = F16(), b2 = F16(), b3 = F16(), minsB = F8()
        var p = row
        var x = UnsafeRawPointer(xi)
        for b in 0..<(cols / 32) {
            let (v16, m) = B.unpack16(p), (u16, n) = B.unpack16(p + rowBytes)
            let v = repeated(v16), u = repeated(u16)
            @inline(__always) func chunk(_ c: Int, _ w: F16, _ z: F16) {
                let x0 = x.loadUnaligned(fromByteOffset: c * 256, as: F16.self)
                a0.addProduct(w, x0); b0.addProduct(z, x0)
                let x1 = x.loadUnaligned(fromByteOffset: c * 256 + 64, as: F16.self)
                a1.addProduct(w, x1); b1.addProduct(z, x1)
                let x2 = x.loadUnaligned(fromByteOffset: c * 256 + 128, as: F16.self)
                a2.addProduct(w, x2); b2.addProduct(z, x2)
                let x3 = x.loadUnaligned(fromByteOffset: c * 256 + 192, as: F16.self)
                a3.addProduct(w, x3); b3.addProduct(z, x3)
            }
            chunk(0, v.0, u.0); chunk(1, v.1, u.1); chunk(2, v.2, u.2); chunk(3, v.3, u.3)
            if B.hasMin {
                let s = UnsafeRawPointer(sums + b * ldSums).loadUnaligned(as: F8.self)
                mins = mins + F8(repeating: m) * s
                minsB = minsB + F8(repeating: n) * s
            }
            p += B.bytes
            x += 1024
        }
        return (F8(hsum(a0.lowHalf), hsum(a0.highHalf), hsum(a1.lowHalf), hsum(a1.highHalf),
                   hsum(a2.lowHalf), hsum(a2.highHalf), hsum(a3.lowHalf), hsum(a3.highHalf)) + mins,
                F8(hsum(b0.lowHalf), hsum(b0.highHalf), hsum(b1.lowHalf), hsum(b1.highHalf),
                   hsum(b2.lowHalf), hsum(b2.highHalf), hsum(b3.lowHalf), hsum(b3.highHalf)) + minsB)
    }

    @inline(__always)
    static func dot4<B: QuantBlock>(_: B.Type, _ row: UnsafeRawPointer, _ xi: UnsafePointer<Float>, _ cols: Int,
                                    _ sums: UnsafePointer<Float>, _ ldSums: Int) -> SIMD4<Float> {
        var a0 = F16(), a1 = F16(), mins = SIMD4<Float>()
        var p = row
        var x = UnsafeRawPointer(xi)
        for b in 0..<(cols / 32) {
            let (w16, m) = B.unpack16(p)
            let w = repeated(w16)
            a0.addProduct(w.0, x.loadUnaligned(as: F16.self))
            a1.addProduct(w.0, x.loadUnaligned(fromByteOffset: 64, as: F16.self))
            a0.addProduct(w.1, x.loadUnaligned(fromByteOffset: 128, as: F16.self))
            a1.addProduct(w.1, x.loadUnaligned(fromByteOffset: 192, as: F16.self))
            a0.addProduct(w.2, x.loadUnaligned(fromByteOffset: 256, as: F16.self))
            a1.addProduct(w.2, x.loadUnaligned(fromByteOffset: 320, as: F16.self))
            a0.addProduct(w.3, x.loadUnaligned(fromByteOffset: 384, as: F16.self))
            a1.addProduct(w.3, x.loadUnaligned(fromByteOffset: 448, as: F16.self))
            if B.hasMin {
                let s = UnsafeRawPointer(sums + b * ldSums).loadUnaligned(as: SIMD4<Float>.self)
                mins = mins + SIMD4(repeating: m) * s
            }
            p += B.bytes
            x += 512
        }
        return SIMD4(hsum(a0.lowHalf), hsum(a0.highHalf), hsum(a1.lowHalf), hsum(a1.highHalf)) + mins
    }
}
