import Foundation
import Synchronization
import Testing
@testable import Kernels

/// Kernel results must not depend on the worker count: `tunelab replay` at another `--threads`
/// has to be bit-identical. (Whole training steps, evaluation and generation at 1, 2, 3 and 8
/// workers: TrainingTests' and TransformerTests' `WorkerCount…` suites.)
/// `Parallel.withWorkers` sets the count for this test's thread only: other tests running at
/// the same time keep theirs.
@Suite struct WorkerCountKernelTests {
    static let workerCounts = [1, 2, 3, 8]

    static func random(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SeededRNG(seed: seed)
        // Mixed magnitudes, so that a different summation order shows in the last bits.
        return (0..<n).map { _ in (rng.nextFloat() - 0.5) * (rng.nextFloat() < 0.1 ? 64 : 1) }
    }

    struct Shape: CustomStringConvertible, Sendable {
        let m: Int, n: Int, k: Int, transA: Bool, transB: Bool
        var description: String { "\(m)×\(n)×\(k)\(transA ? " Aᵀ" : "")\(transB ? " Bᵀ" : "")" }
    }

    /// C = op(A) op(B) + C/2 of random operands.
    static func product(_ s: Shape, _ a: [Float], _ b: [Float], _ c0: [Float]) -> [Float] {
        var c = c0
        c.withUnsafeMutableBufferPointer { cp in
            BLAS.gemm(transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, alpha: 0.75, a: a, lda: s.transA ? s.m : s.k,
                      b: b, ldb: s.transB ? s.k : s.n, beta: 0.5, c: cp.baseAddress!, ldc: s.n)
        }
        return c
    }

    // Unsplit; split by rows (a 65-token k/v projection, a 256-token q projection); by columns (the gate projection of 128
    // tokens); by k: the LM head's input gradient (100 rows × 576 over 49152), LoRA's dB and dA
    // over a 3000-token batch.
    static let shapes = [
        Shape(m: 8, n: 8, k: 8, transA: false, transB: false),
        Shape(m: 65, n: 192, k: 576, transA: false, transB: true),
        Shape(m: 256, n: 576, k: 576, transA: false, transB: true),
        Shape(m: 128, n: 1536, k: 576, transA: false, transB: true),
        Shape(m: 100, n: 576, k: 49152, transA: false, transB: false),
        Shape(m: 576, n: 16, k: 3000, transA: true, transB: false),
        Shape(m: 48, n: 576, k: 3000, transA: true, transB: false),
        // Wide: an LM head chunk's logits (64 rows × 8192 vocabulary columns), and a ragged one.
        Shape(m: 64, n: 8192, k: 576, transA: false, transB: true),
        Shape(m: 100, n: 1000, k: 64, transA: false, transB: false),
    ]

    /// Called directly and from inside a parallel job (where it runs whole on one worker), every
    /// product gives the same bits at every worker count.
    @Test(arguments: shapes)
    func fp32ProductsAreBitIdenticalAtEveryWorkerCount(shape s: Shape) {
        let a = Self.random(s.m * s.k, seed: 1), b = Self.random(s.k * s.n, seed: 2), c0 = Self.random(s.m * s.n, seed: 3)
        var outside: [[Float]] = [], inside: [[Float]] = []
        for w in Self.workerCounts {
            outside.append(Parallel.withWorkers(w) { Self.product(s, a, b, c0) })
            var c: [Float] = []
            Parallel.withWorkers(w) {
                Parallel.forEachItem(2) { i in if i == 0 { c = Self.product(s, a, b, c0) } }
            }
            inside.append(c)
        }
        for (w, c) in zip(Self.workerCounts, outside) {
            let same = c == outside[0]
            #expect(same, "\(s) at \(w) workers differs from 1 worker")
        }
        for (w, c) in zip(Self.workerCounts, inside) {
            let same = c == inside[0]
            #expect(same, "\(s) inside a job at \(w) workers differs from 1 worker")
        }
        let work = Double(s.m * s.n * s.k)
        if s.k >= 4 * max(s.m, s.n), work >= 2 * BLAS.minSplitWork {
            // What makes the inside-a-job check bite: a k-split product rounds differently from
            // the whole one, so a serial job that forgot to mark its thread (the 1-worker path
            // once did) would give the outside value at 1 worker and the inside one at 2.
            let differ = inside[0] != outside[0]
            #expect(differ, "\(s): the k-split and the whole product should round differently")
        }
    }

    /// Negative control: the k-split's partial sums change the bits when their number changes
    /// (as when it followed the worker count), so the check above can see that bug. The part
    /// count used is the shape's own, at one worker as at eight.
    @Test func aKSplitsPartCountChangesTheBits() {
        let s = Shape(m: 100, n: 576, k: 49152, transA: false, transB: false)
        let a = Self.random(s.m * s.k, seed: 1), b = Self.random(s.k * s.n, seed: 2), c0 = Self.random(s.m * s.n, seed: 3)
        func split(_ parts: Int) -> [Float] {
            var c = c0
            c.withUnsafeMutableBufferPointer { cp in
                BLAS.gemmSplitK(parts: parts, transA: false, transB: false, m: s.m, n: s.n, k: s.k, alpha: 0.75, a: a, lda: s.k,
                                b: b, ldb: s.n, beta: 0.5, c: cp.baseAddress!, ldc: s.n)
            }
            return c
        }
        let byParts = Self.workerCounts.map(split)
        for i in byParts.indices {
            for j in byParts.indices where j > i {
                let differ = byParts[i] != byParts[j]
                #expect(differ, "\(Self.workerCounts[i]) and \(Self.workerCounts[j]) parts give the same bits")
            }
        }
        let parts = BLAS.kParts(m: s.m, n: s.n, k: s.k)
        #expect(parts == 12)
        let own = split(parts)
        for w in Self.workerCounts {
            let same = Parallel.withWorkers(w) { Self.product(s, a, b, c0) } == own
            #expect(same, "\(w) workers: not the product in the shape's own \(parts) parts")
        }
    }

    /// Negative control for the row split: OpenBLAS rounds a row differently when a call holds
    /// only a few rows (the ragged last row of a 65-token k/v projection, 65 × 192 × 576, alone,
    /// as 8 workers once sliced it), so slices keep whole tiles (`BLAS.tile` rows) with the ragged rows joined
    /// to the last; at every worker count this product equals the whole one.
    @Test func aCallOfOnlyTheRaggedRowsRoundsThemDifferently() {
        let s = Shape(m: 65, n: 192, k: 576, transA: false, transB: true)
        let a = Self.random(s.m * s.k, seed: 1), b = Self.random(s.k * s.n, seed: 2), c0 = Self.random(s.m * s.n, seed: 3)
        func rows(_ lo: Int, _ hi: Int) -> [Float] {
            var c = Array(c0[(lo * s.n)..<(hi * s.n)])
            c.withUnsafeMutableBufferPointer { cp in
                Parallel.withWorkers(1) {
                    BLAS.gemm(transB: true, m: hi - lo, n: s.n, k: s.k, alpha: 0.75, a: Array(a[(lo * s.k)...]), lda: s.k,
                              b: b, ldb: s.k, beta: 0.5, c: cp.baseAddress!, ldc: s.n)
                }
            }
            return c
        }
        let whole = rows(0, 65)
        if BLAS.shapeStable {
            // The AVX-512 kernels' small-matrix path (the AVX2 ones round a lone row alike).
            let alone = rows(64, 65) != Array(whole[(64 * s.n)...])
            #expect(alone, "the last row computed alone should round differently")
        }
        let joined = rows(48, 65) == Array(whole[(48 * s.n)...])
        #expect(joined, "a tile plus the ragged row rounds as the whole product")
        for w in Self.workerCounts {
            let same = Parallel.withWorkers(w) { Self.product(s, a, b, c0) } == Parallel.withWorkers(1) { Self.product(s, a, b, c0) }
            #expect(same, "\(w) workers")
        }
    }

    /// Row and column slices over many row counts (2 to 300 tokens) of SmolLM2's frozen
    /// products, forward and input gradient: the same bits at every worker count.
    @Test func slicedProductsOfManySizesAreBitIdenticalAtEveryWorkerCount() {
        var differing: [String] = []
        for (n, k) in [(576, 576), (192, 576), (1536, 576), (576, 1536), (576, 49152)] {
            let a = Self.random(300 * max(n, k), seed: 7), b = Self.random(n * k, seed: 8), c0 = Self.random(300 * max(n, k), seed: 9)
            for m in [2, 5, 17, 33, 40, 47, 48, 49, 65, 70, 77, 96, 101, 127, 150, 171, 200, 255, 300] {
                for (shape, beta) in [(Shape(m: m, n: n, k: k, transA: false, transB: true), Float(0)),
                                      (Shape(m: m, n: k, k: n, transA: false, transB: false), Float(1))] where k != 49152 || beta == 1 {
                    let operandA = Array(a.prefix(shape.m * shape.k)), operandB = Array(b.prefix(shape.k * shape.n))
                    let c = Array(c0.prefix(shape.m * shape.n))
                    func run(_ w: Int) -> [Float] {
                        var out = c
                        out.withUnsafeMutableBufferPointer { cp in
                            Parallel.withWorkers(w) {
                                BLAS.gemm(transB: shape.transB, m: shape.m, n: shape.n, k: shape.k, a: operandA,
                                          lda: shape.k, b: operandB, ldb: shape.transB ? shape.k : shape.n, beta: beta,
                                          c: cp.baseAddress!, ldc: shape.n)
                            }
                        }
                        return out
                    }
                    let one = run(1)
                    for w in Self.workerCounts.dropFirst() where run(w) != one { differing.append("\(shape) at \(w) workers") }
                }
            }
        }
        #expect(differing.isEmpty, "\(differing)")
    }

    /// A serial job (one worker, or a single item) marks its thread as inside a job, as a
    /// parallel one does; nested calls run serially, still marked; `withWorkers` is per thread.
    @Test func serialJobsAreMarkedAsJobs() {
        for w in Self.workerCounts {
            Parallel.withWorkers(w) {
                #expect(!Parallel.isInsideJob)
                // Raw memory: workers write distinct elements at once (a Swift array would race).
                let flags = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 4)
                defer { flags.deallocate() }
                flags.initialize(repeating: false)
                Parallel.forEachItem(2) { i in flags[i] = Parallel.isInsideJob }
                Parallel.forEachRange(1) { _ in flags[2] = Parallel.isInsideJob }
                Parallel.forEachRange(64, minPerWorker: 16) { r in
                    if r.lowerBound == 0 { Parallel.forEachRange(64) { _ in flags[3] = Parallel.isInsideJob } }
                }
                let seen = Array(flags)
                #expect(seen == [true, true, true, true], "\(w) workers: \(seen)")
                #expect(!Parallel.isInsideJob)
            }
        }
        let outer = Parallel.workers
        Parallel.withWorkers(outer + 5) {
            #expect(Parallel.workers == outer + 5)
            let other = Atomic<Int>(0)
            let t = Thread { other.store(Parallel.workers, ordering: .relaxed) }
            t.start()
            while !t.isFinished { usleep(100) }
            #expect(other.load(ordering: .relaxed) == outer, "another thread sees the process's count")
        }
        #expect(Parallel.workers == outer)
    }

    /// SmolLM2's frozen bf16 products (q, k/v, gate/up, down, the LM head; forward and input
    /// gradient with accumulation): a row's values do not depend on how many rows the oneDNN call
    /// has nor where it starts, so splitting rows over any number of workers keeps the bits.
    @Test(arguments: [(576, 576, true), (192, 576, true), (1536, 576, true), (576, 1536, true), (49152, 576, true),
                      (576, 576, false), (576, 192, false), (576, 1536, false), (1536, 576, false), (576, 49152, false)])
    func bf16RowsDoNotDependOnTheRowsPerCall(shape: (Int, Int, Bool)) throws {
        let (n, k, transB) = shape
        try #require(BF16.unavailableReason == nil, "no bf16 matmul on this CPU")
        let m = 160
        let a = Self.random(m * k, seed: 4).map(BF16.round), b = Self.random(n * k, seed: 5).map(BF16.round)
        let c0 = Self.random(m * n, seed: 6)
        let accumulate = !transB   // as FrozenLinear: the forward overwrites, the input gradient adds
        func rows(_ lo: Int, _ hi: Int, k0: Int = 0, k1: Int? = nil, into c: inout [Float]) {
            let k1 = k1 ?? k
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                try! BF16.gemm(transB: transB, m: hi - lo, n: n, k: k1 - k0, a: ap.baseAddress! + lo * k + k0, lda: k,
                          b: bp.baseAddress! + (transB ? k0 : k0 * n), ldb: transB ? k : n, accumulate: accumulate || k0 > 0,
                          c: cp.baseAddress! + lo * n, ldc: n)
            } } }
        }
        var whole = c0
        Parallel.withWorkers(1) { rows(0, m, into: &whole) }
        // Calls of 1, 15, 16, 17, 31, 48 and 32 rows, starting at odd and even rows.
        var pieces = c0, lo = 0
        Parallel.withWorkers(1) {
            for size in [1, 15, 16, 17, 31, 48, 32] { rows(lo, lo + size, into: &pieces); lo += size }
        }
        #expect(lo == m)
        let same = pieces == whole
        #expect(same, "n \(n) k \(k) transB \(transB): rows computed in calls of other sizes differ")
        for w in Self.workerCounts {
            var c = c0
            Parallel.withWorkers(w) { rows(0, m, into: &c) }
            let equal = c == whole
            #expect(equal, "n \(n) k \(k) transB \(transB): \(w) workers")
        }
        // Negative control: the comparison sees a change of summation order (k in two halves).
        var halves = c0
        Parallel.withWorkers(1) {
            rows(0, m, k1: k / 2, into: &halves)
            rows(0, m, k0: k / 2, into: &halves)
        }
        let differ = halves != whole
        #expect(differ, "n \(n) k \(k) transB \(transB): summing k in two halves should round differently")
    }
}
