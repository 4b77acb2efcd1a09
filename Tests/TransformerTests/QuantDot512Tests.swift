import Foundation
import Kernels
import ModelFiles
import QuantDot512
import Testing
@testable import Transformer

/// The 16-lane kernels (QuantDot512, chosen on AVX-512 CPUs) give the 8-lane kernel's bits for
/// every output: groups of 8 and 4, one row and two rows at a time, Q4_1 (SmolLM2's gate
/// projection) and Q8_0 (its LM head). So a record made on an AVX-512 machine decodes the same
/// tokens on one without it. Negative control: a plain 16-lane port (elements 0…15 of a block in
/// one register, as one would write it first) does not give the same bits, so the comparison
/// sees a change of summation order.
@Suite struct QuantDot512Tests {
    @Test func sixteenLaneKernelsGiveTheEightLaneBits() throws {
        guard CPUFeatures.avx512 else {
            print("QuantDot512Tests: this CPU has no AVX-512; the 16-lane kernels are not used here")
            return
        }
        let lm = try #require(Models.smol, "default model missing: run scripts/setup.sh")
        var plainDiffers = 0, compared = 0
        for lin in [lm.weights.layers[0].gate, lm.weights.lmHead] {
            let cols = lin.cols, nb = cols / 32, rows = 64
            var rng = SystemRandomNumberGenerator()
            for size in [8, 4] {
                let x = (0..<(size * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
                var sums = [Float](repeating: 0, count: nb * size)
                for i in 0..<size { for b in 0..<nb { sums[b * size + i] = x[(i * cols + b * 32)..<(i * cols + b * 32 + 32)].reduce(0, +) } }
                var want = [Float](repeating: 0, count: size * rows), one = want, two = want
                var xi = [Float](repeating: 0, count: size * cols)
                x.withUnsafeBufferPointer { xp in sums.withUnsafeBufferPointer { sp in
                    QuantDot512.interleave(xp.baseAddress!, cols, size: size, cols: cols, into: &xi)
                    xi.withUnsafeBufferPointer { xip in
                        for r in 0..<rows {
                            let row = lin.data + r * lin.rowBytes
                            want.withUnsafeMutableBufferPointer {
                                _ = QuantDot.dotRows(lin.type, row, xp.baseAddress!, cols, size, cols, sp.baseAddress!, size, $0.baseAddress! + r, rows)
                            }
                            one.withUnsafeMutableBufferPointer {
                                _ = QuantDot512.dotGroup(lin.type, row, xip.baseAddress!, size: size, cols, sp.baseAddress!, size,
                                                         $0.baseAddress! + r, rows, count: size)
                            }
                            if r % 2 == 0 {
                                two.withUnsafeMutableBufferPointer {
                                    _ = QuantDot512.dotGroupTwoRows(lin.type, row, lin.rowBytes, xip.baseAddress!, size: size, cols,
                                                                    sp.baseAddress!, size, $0.baseAddress! + r, rows, count: size)
                                }
                            }
                            // The plain 16-lane port, for the negative control.
                            var w = [Float](repeating: 0, count: cols)
                            dequantize(lin.type, row, count: cols, into: &w)
                            for i in 0..<size {
                                var acc = SIMD16<Float>()
                                for c in stride(from: 0, to: cols, by: 16) {
                                    acc.addProduct(SIMD16<Float>(w[c..<(c + 16)]), SIMD16<Float>(x[(i * cols + c)..<(i * cols + c + 16)]))
                                }
                                compared += 1
                                if acc.sum() != want[i * rows + r] { plainDiffers += 1 }
                            }
                        }
                    }
                } }
                let sameOne = one == want, sameTwo = two == want
                #expect(sameOne, "\(lin.type.name) group of \(size), one row at a time")
                #expect(sameTwo, "\(lin.type.name) group of \(size), two rows at a time")
            }
        }
        #expect(plainDiffers > compared / 2, "a plain 16-lane port differed in only \(plainDiffers) of \(compared) outputs")
    }

    /// Decode attention compiled for AVX-512 gives the AVX2 build's bits, at several lengths and
    /// head sizes (and both agree with a Float64 reference to 1e-5).
    @Test func decodeAttentionGivesTheSameBitsOnAVX512() throws {
        guard CPUFeatures.avx512 else {
            print("QuantDot512Tests: this CPU has no AVX-512; the 16-lane kernels are not used here")
            return
        }
        var rng = SystemRandomNumberGenerator()
        for hd in [64, 128, 48] {
            for visible in [1, 17, 300, 1000] {
                let ld = 3 * hd
                let q = (0..<hd).map { _ in Float.random(in: -1...1, using: &rng) }
                let k = (0..<(visible * ld)).map { _ in Float.random(in: -1...1, using: &rng) }
                let v = (0..<(visible * ld)).map { _ in Float.random(in: -1...1, using: &rng) }
                let scale = 1 / Float(hd).squareRoot()
                var p1 = [Float](repeating: 0, count: visible), p2 = p1
                var o1 = [Float](repeating: 0, count: hd), o2 = o1
                DecodeAttention.row(q: q, k: k, v: v, ldkv: ld, visible: visible, headDim: hd, scale: scale, probs: &p1, out: &o1)
                QuantDot512.decodeAttentionRow(q: q, k: k, v: v, ldkv: ld, visible: visible, headDim: hd, scale: scale, probs: &p2, out: &o2)
                let same = o1 == o2 && p1 == p2
                #expect(same, "hd \(hd), \(visible) keys")
                var s = (0..<visible).map { j in Double(scale) * (0..<hd).reduce(0.0) { $0 + Double(q[$1]) * Double(k[j * ld + $1]) } }
                let m = s.max()!
                s = s.map { exp($0 - m) }
                let z = s.reduce(0, +)
                var worst = 0.0
                for c in 0..<hd {
                    let want = (0..<visible).reduce(0.0) { $0 + s[$1] / z * Double(v[$1 * ld + c]) }
                    worst = max(worst, abs(want - Double(o2[c])))
                }
                #expect(worst < 1e-5, "hd \(hd), \(visible) keys: \(worst)")
            }
        }
    }
}
