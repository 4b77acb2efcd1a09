import Foundation
import Testing
@testable import Kernels
import CDNNL

/// bf16 rounding (to nearest, ties to even, as torch's `.to(torch.bfloat16)`) and the oneDNN
/// products: C must equal the exact product of the bf16-rounded inputs up to fp32 accumulation.
@Suite struct BF16Tests {
    @Test func roundsToNearestTiesToEven() {
        let cases: [(UInt32, UInt16)] = [
            (0x3F80_0000, 0x3F80),   // 1.0 exactly
            (0x3F80_7FFF, 0x3F80),   // just below half an ulp: down
            (0x3F80_8000, 0x3F80),   // tie, even below: stays
            (0x3F81_8000, 0x3F82),   // tie, odd below: up to even
            (0x3F80_8001, 0x3F81),   // just above half: up
            (0xBF81_8000, 0xBF82),   // negative tie: magnitude up to even
            (0x7F7F_FFFF, 0x7F80),   // largest float rounds to +inf
            (0x7F80_0000, 0x7F80),   // +inf
            (0xFF80_0000, 0xFF80),   // -inf
            (0x0000_0001, 0x0000),   // smallest subnormal rounds to +0
            (0x8000_0000, 0x8000),   // -0
        ]
        for (bits, want) in cases {
            #expect(BF16.round(Float(bitPattern: bits)) == want, "0x\(String(bits, radix: 16))")
        }
        // NaNs stay NaN, even one whose payload sits only in the low 16 bits (plain rounding
        // would carry it into the exponent and make it infinity).
        for bits: UInt32 in [0x7FC0_0000, 0x7F80_0001, 0xFF80_0001] {
            #expect(BF16.float(BF16.round(Float(bitPattern: bits))).isNaN)
        }
    }

    @Test func vectorConversionEqualsScalarRounding() {
        var rng = SeededRNG(seed: 5)
        var xs = (0..<100_003).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        xs += [0, -0, .infinity, -.infinity, .nan, .greatestFiniteMagnitude, Float(bitPattern: 0x3F81_8000)]
        var out = [UInt16](repeating: 0xFFFF, count: xs.count)
        Parallel.workers = 2
        xs.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { o in
            BF16.convert(x.baseAddress!, o.baseAddress!, x.count)
        } }
        var bad = 0
        for (x, h) in zip(xs, out) {
            let want = BF16.round(x)
            if x.isNaN ? !BF16.float(h).isNaN : h != want { bad += 1 }
        }
        #expect(bad == 0)
    }

    /// Exact product of the rounded inputs, in Double.
    static func reference(_ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [UInt16], _ lda: Int, _ b: [UInt16],
                          _ ldb: Int) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(BF16.float(a[i * lda + p])) * Double(BF16.float(bv))
                }
                out[i * n + j] = s
            }
        }
        return out
    }

    // (m, n, k, padding of every leading dimension): one part, split over two workers with a
    // ragged last tile, strided operands.
    @Test(arguments: [(5, 7, 9, 0), (300, 100, 200, 0), (37, 50, 600, 3), (129, 64, 48, 16)])
    func productsEqualTheExactProductOfRoundedInputs(shape: (Int, Int, Int, Int)) throws {
        Parallel.workers = 2
        let (m, n, k, pad) = shape
        var rng = SeededRNG(seed: UInt64(m * 131 + n * 17 + k))
        func rand(_ count: Int) -> [Float] { (0..<count).map { _ in rng.nextFloat() * 2 - 1 } }
        let lda = k + pad, ldc = n + pad
        let af = rand(m * lda)
        let a = af.map(BF16.round)
        let c0 = rand(m * ldc)
        for transB in [false, true] {
            let ldb = (transB ? k : n) + pad
            let b = rand((transB ? n : k) * ldb).map(BF16.round)
            let ref = Self.reference(transB, m, n, k, a, lda, b, ldb)
            for accumulate in [false, true] {
                var c = c0
                try c.withUnsafeMutableBufferPointer { cp in
                    try BF16.gemm(transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, accumulate: accumulate,
                              c: cp.baseAddress!, ldc: ldc)
                }
                var worst = 0.0, untouched = true
                for i in 0..<m {
                    for j in 0..<n {
                        let want = ref[i * n + j] + (accumulate ? Double(c0[i * ldc + j]) : 0)
                        worst = max(worst, abs(Double(c[i * ldc + j]) - want))
                    }
                    for j in n..<ldc where c[i * ldc + j] != c0[i * ldc + j] { untouched = false }
                }
                #expect(worst <= 2e-6 * Double(k).squareRoot() + 1e-6,
                        "m \(m) n \(n) k \(k) transB \(transB) accumulate \(accumulate): \(worst)")
                #expect(untouched, "columns past n (the padding of ldc) must not be written")
            }
        }
    }

    /// Products issued from inside parallel jobs (two at once) give the same values as from outside.
    @Test func productsInsideParallelJobsMatch() throws {
        Parallel.workers = 2
        var rng = SeededRNG(seed: 9)
        let m = 64, n = 48, k = 96
        let a = (0..<(2 * m * k)).map { _ in BF16.round(rng.nextFloat() - 0.5) }
        let b = (0..<(n * k)).map { _ in BF16.round(rng.nextFloat() - 0.5) }
        var outside = [Float](repeating: 0, count: 2 * m * n), inside = outside
        try a.withUnsafeBufferPointer { ap in try outside.withUnsafeMutableBufferPointer { c in
            for h in 0..<2 {
                try BF16.gemm(transB: true, m: m, n: n, k: k, a: ap.baseAddress! + h * m * k, lda: k,
                          b: b, ldb: k, accumulate: false, c: c.baseAddress! + h * m * n, ldc: n)
            }
        } }
        a.withUnsafeBufferPointer { ap in inside.withUnsafeMutableBufferPointer { c in
            let cp = c.baseAddress!
            Parallel.forEachItem(2) { h in
                #expect(throws: Never.self) {
                    try BF16.gemm(transB: true, m: m, n: n, k: k, a: ap.baseAddress! + h * m * k, lda: k, b: b, ldb: k,
                                  accumulate: false, c: cp + h * m * n, ldc: n)
                }
            }
        } }
        do { let same = inside == outside; #expect(same) }
    }
}

/// A oneDNN failure is an error carrying its status, from the worker that hit it.
@Suite struct OneDNNErrorTests {
    @Test func statusIsReported() throws {
        let e = try #require(throws: OneDNNError.self) { try BF16.check(dnnl_unimplemented, "bf16 matmul 4×4 · 4×4") }
        #expect(e.description == "oneDNN: bf16 matmul 4×4 · 4×4 failed with status 3 (unimplemented)")
        #expect(throws: Never.self) { try BF16.check(dnnl_success, "x") }
    }

    /// Strides oneDNN refuses (a negative leading dimension) come back as an error from `gemm`,
    /// on one worker and split over two.
    @Test func failingProductThrows() throws {
        guard BF16.unavailableReason == nil else { return }
        for (workers, m) in [(1, 4), (2, 512)] {
            Parallel.workers = workers
            let a = [UInt16](repeating: 0x3F80, count: m * 512), b = [UInt16](repeating: 0x3F80, count: 512 * 512)
            var c = [Float](repeating: 0, count: m * 512)
            let e = try #require(throws: OneDNNError.self) {
                try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in try c.withUnsafeMutableBufferPointer { cp in
                    try BF16.gemm(transB: true, m: m, n: 512, k: 512, a: ap.baseAddress!, lda: 512, b: bp.baseAddress!, ldb: -512,
                                  accumulate: false, c: cp.baseAddress!, ldc: 512)
                } } }
            }
            let rows = workers == 1 ? m : m / 2   // split over two workers: each runs half the rows
            #expect(e.description == "oneDNN: bf16 matmul \(rows)×512 · 512×512: weights layout (ldb -512) failed with status 2 (invalid arguments)", "\(e)")
        }
        Parallel.workers = 2
    }
}
