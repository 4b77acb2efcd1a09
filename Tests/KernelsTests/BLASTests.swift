import Foundation
import Synchronization
import Testing
@testable import Kernels

/// `BLAS.gemm` splits large products over the worker pool by rows, by columns, or (long thin
/// products) by k. Every way, with every transpose and beta, it must equal the plain product.
@Suite struct BLASTests {
    /// C = alpha · op(A) op(B) + beta · C in Double, row-major.
    static func reference(_ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: [Float],
                          _ b: [Float], _ beta: Float, _ c: [Float]) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = tA ? a[p * m + i] : a[i * k + p]
                    let bv = tB ? b[j * k + p] : b[p * n + j]
                    s += Double(av) * Double(bv)
                }
                out[i * n + j] = Double(alpha) * s + Double(beta) * Double(c[i * n + j])
            }
        }
        return out
    }

    // (m, n, k): unsplit, split by rows (m ≥ n/4), by columns (n > 4m), by k (k ≥ 4·max(m, n)).
    @Test(arguments: [(8, 8, 8), (300, 100, 200), (20, 700, 300), (24, 40, 9000)], [false, true])
    func splitProductsMatchThePlainProduct(shape: (Int, Int, Int), transA: Bool) {
        Parallel.workers = 2
        let (m, n, k) = shape
        var rng = SeededRNG(seed: UInt64(m * 31 + n * 7 + k))
        func rand(_ count: Int) -> [Float] { (0..<count).map { _ in rng.nextFloat() * 2 - 1 } }
        let a = rand(m * k), b = rand(k * n), c0 = rand(m * n)
        for transB in [false, true] {
            for (alpha, beta) in [(Float(1), Float(0)), (Float(0.5), Float(1)), (Float(-2), Float(0.25))] {
                var c = c0
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: transA ? m : k,
                              b: b, ldb: transB ? k : n, beta: beta, c: cp.baseAddress!, ldc: n)
                }
                let ref = Self.reference(transA, transB, m, n, k, alpha, a, b, beta, c0)
                let scale = ref.map { abs($0) }.max()! + 1
                let worst = zip(c, ref).map { abs(Double($0) - $1) }.max()!
                #expect(worst <= 1e-5 * scale * Double(k).squareRoot(),
                        "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) alpha \(alpha) beta \(beta): \(worst)")
            }
        }
    }

    /// A product's result does not depend on other threads keeping the worker pool busy (the
    /// path used to be chosen from a global "pool busy" flag: a long k split into partial sums
    /// then became one sgemm, with different rounding, whenever another thread had a job).
    @Test func productsDoNotDependOnOtherThreadsJobs() {
        Parallel.workers = 2
        var rng = SeededRNG(seed: 12)
        let m = 32, n = 48, k = 8192
        let a = (0..<(m * k)).map { _ in rng.nextFloat() - 0.5 }, b = (0..<(k * n)).map { _ in rng.nextFloat() - 0.5 }
        func product() -> [Float] {
            var c = [Float](repeating: 0, count: m * n)
            c.withUnsafeMutableBufferPointer { BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: $0.baseAddress!, ldc: n) }
            return c
        }
        let alone = product()
        let stop = Atomic<Bool>(false), busy = Atomic<Int>(0)
        let other = Thread {
            let sink = UnsafeMutablePointer<Double>.allocate(capacity: 2)
            defer { sink.deallocate() }
            while !stop.load(ordering: .relaxed) {
                Parallel.forEachRange(2) { r in
                    for i in r { var x = 0.0; for j in 0..<20_000 { x += Double(j) }; sink[i] = x }
                }
                busy.add(1, ordering: .relaxed)
            }
        }
        other.start()
        while busy.load(ordering: .relaxed) == 0 { usleep(100) }
        var differing = 0
        for _ in 0..<40 where product() != alone { differing += 1 }
        stop.store(true, ordering: .relaxed)
        #expect(differing == 0, "\(differing) of 40 products differed while another thread ran jobs")
    }

    /// The split only changes which worker computes a slice: repeated products are identical.
    @Test func splitProductsAreDeterministic() {
        Parallel.workers = 2
        var rng = SeededRNG(seed: 11)
        let m = 64, n = 64, k = 8192
        let a = (0..<(m * k)).map { _ in rng.nextFloat() - 0.5 }, b = (0..<(k * n)).map { _ in rng.nextFloat() - 0.5 }
        var first: [Float] = []
        for _ in 0..<5 {
            var c = [Float](repeating: 0, count: m * n)
            c.withUnsafeMutableBufferPointer { BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: $0.baseAddress!, ldc: n) }
            if first.isEmpty { first = c } else { #expect(c == first) }
        }
    }
}
