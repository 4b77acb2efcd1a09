import COpenBLAS
import Foundation

/// Row-major matrix products through OpenBLAS, and its thread/build facts for the record.
///
/// OpenBLAS itself runs single-threaded: products are split over TuneLab's own worker pool
/// (`Parallel`) instead. With OpenBLAS's threads next to the pool's, 2 cores carried 3–4
/// threads, its idle workers spun in sched_yield, and the many small products of training
/// (attention blocks, LoRA's rank-16 factors) did not speed up with a second thread at all
/// (measured with `tunelab bench train --profile`). One pool lets attention run whole
/// heads/blocks per worker, each with a single-threaded product inside.
public enum BLAS {
    /// Products below this many multiply-adds per part are not split (thread hand-over and
    /// repeated packing would cost more than they save; OpenBLAS also switches to its
    /// small-matrix kernel below 100³).
    static let minSplitWork = 2_000_000.0

    private static let partialLock = NSLock()
    nonisolated(unsafe) private static var partialBuffer: UnsafeMutablePointer<Float>?
    nonisolated(unsafe) private static var partialCapacity = 0

    private static let singleThreaded: Void = {
        KernelChoice.apply()
        openblas_set_num_threads(1)
    }()

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, all row-major.
    /// op(A) is m×k (A stored k×m when transA), op(B) is k×n (B stored n×k when transB).
    /// Large products are split over the worker pool by rows of C (by columns only when C is
    /// more than 4× wider than tall: contiguous rows stream better): each element is computed
    /// the same whatever the slicing (`tileParts`; under the AVX2 kernels column slices follow the
    /// shape alone, `columnParts`). Long, thin products are split along k into
    /// partial products added in a fixed order; their number changes the rounding, so it
    /// follows the shape alone (`kParts`), at every worker count, one worker included. Inside a
    /// parallel job the product runs whole on the calling worker (the same path at any worker
    /// count: see `Parallel`).
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = singleThreaded
        let work = Double(m) * Double(n) * Double(k)
        guard work >= minSplitWork * 2, !Parallel.isInsideJob else {
            sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        if k >= 4 * Swift.max(m, n), kParts(m: m, n: n, k: k) > 1 {
            gemmSplitK(parts: kParts(m: m, n: n, k: k), transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                       a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        // Wide C is sliced by columns. Under the AVX2 kernels a column's bits depend on where its
        // slice starts, so there the slices are fixed by the shape (`columnParts`), at any worker
        // count, one included; rows instead would make every worker pack all of B (the LM head's
        // 113 MB per 512-row chunk: training 8% slower at 2 workers, measured).
        let byRows = splitsByRows(m: m, n: n)
        let parts = byRows || shapeStable ? tileParts(m: m, n: n, k: k, workers: Parallel.workers) : columnParts(m: m, n: n, k: k)
        guard parts > 1 else {
            sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        gemmSlices(parts: parts, byRows: byRows, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                   a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Slices of C a product is cut into: one per worker, at most one per `minSplitWork`
    /// multiply-adds and one per whole tile (`tile`); the ragged last tile joins the last slice.
    /// A row's values then do not depend on the slicing (OpenBLAS accumulates each element over
    /// k in the same order in every call whose rows start on its kernel's row tile; a call of
    /// only the ragged rows went to its small-matrix kernel and rounded them differently). One
    /// slice per worker, not a fixed count: every slice re-packs the shared operand (12 fixed
    /// slices cost 20% of the frozen products at 2 workers). Checked over the model shapes and
    /// many row counts by `WorkerCountKernelTests`.
    static func tileParts(m: Int, n: Int, k: Int, workers: Int) -> Int {
        let work = Double(m) * Double(n) * Double(k)
        let wholeTiles = (splitsByRows(m: m, n: n) ? m : n) / tile
        return Swift.max(1, Swift.min(workers, Int(work / minSplitWork), wholeTiles))
    }

    /// Slice boundaries fall on multiples of this many rows (or columns). OpenBLAS's AVX-512
    /// kernels round every element alike in any call from 16-row (16-column) boundaries on; its
    /// AVX2 kernels (Haswell, Zen: what OPENBLAS_CORETYPE=Haswell selects, as some machines set
    /// it) only in calls that start on a 12-row boundary, and their column slices change the
    /// bits at any boundary (measured on a Zen 5 with both sets): there 12 rows, and column
    /// slices fixed by the shape (`columnParts`).
    static var tile: Int { shapeStable ? 16 : 12 }

    /// Whether the kernel set in use computes each element of C alike whatever the call around
    /// it: any row count, any column slice (OpenBLAS's AVX-512 sets). The AVX2 sets round the
    /// rows of a call's ragged last 12-row tile differently, so there a row's bits depend on how
    /// many rows share its product: results stay independent of the worker count (slices fall
    /// on `tile` boundaries) but not of chunk or batch sizes (they move by ~1e-7 relative).
    public static let shapeStable: Bool = {
        _ = singleThreaded
        return KernelChoice.avx512Cores.contains(coreName)
    }()

    /// Rows, unless C is more than 4× wider than tall (contiguous rows stream better; slices of
    /// rows would each pack all of B).
    static func splitsByRows(m: Int, n: Int) -> Bool { 4 * m >= n }

    /// Column slices of a wide product under kernels that are not `shapeStable`: from the shape
    /// only (like `kParts`), at most 12 (shared evenly by 1, 2, 3, 4 or 6 workers), each of at
    /// least `minSplitWork` multiply-adds and 256 columns.
    static func columnParts(m: Int, n: Int, k: Int) -> Int {
        let work = Double(m) * Double(n) * Double(k)
        return Swift.max(1, Swift.min(12, Int(work / minSplitWork), n / 256))
    }

    /// The product in `parts` slices of C's rows (or columns), each of whole tiles (the last also
    /// takes the ragged rest), each claimed by whichever worker is free. Boundaries fall at the
    /// tile multiple nearest to an even split (1024 rows in 12-row tiles: 516 + 508, where
    /// rounding down gave 504 + 520).
    static func gemmSlices(parts: Int, byRows: Bool, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let extent = byRows ? m : n, tile = Self.tile, tiles = extent / tile
        let bound = { (p: Int) in (2 * tiles * p + parts) / (2 * parts) * tile }
        Parallel.forEachItem(parts) { p in
            let lo = bound(p), hi = p == parts - 1 ? extent : bound(p + 1)
            guard lo < hi else { return }
            if byRows {
                sgemm(transA, transB, hi - lo, n, k, alpha, transA ? a + lo : a + lo * lda, lda, b, ldb, beta,
                      c + lo * ldc, ldc)
            } else {
                sgemm(transA, transB, m, hi - lo, k, alpha, a, lda, transB ? b + lo * ldb : b + lo, ldb, beta,
                      c + lo, ldc)
            }
        }
    }

    /// Partial products of a long, thin product: at most 12 (shared evenly by 1, 2, 3, 4 or 6
    /// workers), each of at least `minSplitWork` multiply-adds and 256 k-values. From the
    /// shape only: the partial sums, and so the rounding, must not follow the worker count.
    static func kParts(m: Int, n: Int, k: Int) -> Int {
        let work = Double(m) * Double(n) * Double(k)
        return Swift.max(1, Swift.min(12, Int(work / minSplitWork), k / 256))
    }

    /// The k-split product with `parts` partial products (the LM head's input gradient: 128 × 576
    /// over 49152 vocabulary rows; slices of C would each re-pack all of A): each part's product
    /// into its own buffer, then per row of C the parts added in part order.
    static func gemmSplitK(parts: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // Kept between calls (one caller at a time): fresh memory faults in slowly.
        partialLock.lock()
        defer { partialLock.unlock() }
        if partialCapacity < parts * m * n {
            if let old = partialBuffer { LargeBuffer.free(old) }
            partialBuffer = try? LargeBuffer.allocate(floats: parts * m * n, for: "partial products")
            partialCapacity = partialBuffer == nil ? 0 : parts * m * n
        }
        guard let partial = partialBuffer else {
            // No memory for the partials (parts × m × n floats: the LM head's chunk, tens of MB):
            // one whole product instead, which needs none. Its sums are ordered differently, so
            // the last bits differ from the split path's (a replay would report it).
            sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        // Parts claimed by whichever worker is free (a busy machine delays some threads).
        Parallel.forEachItem(parts) { part in
            let k0 = k * part / parts, k1 = k * (part + 1) / parts
            sgemm(transA, transB, m, n, k1 - k0, alpha, transA ? a + k0 * lda : a + k0, lda,
                  transB ? b + k0 : b + k0 * ldb, ldb, 0, partial + part * m * n, n)
        }
        Parallel.forEachRange(m, minPerWorker: 16) { r in
            for i in r {
                let row = c + i * ldc
                if beta == 0 { row.initialize(repeating: 0, count: n) } else if beta != 1 { Vec.scale(row, beta, n) }
                for part in 0..<parts { Vec.add(partial + part * m * n + i * n, row, n) }
            }
        }
    }

    @inline(__always)
    private static func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                              _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                              _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// Worker threads for products and kernels (OpenBLAS's own stay at one).
    public static func setThreads(_ n: Int) {
        _ = singleThreaded
        Parallel.workers = max(1, n)
    }
    public static var threads: Int { Parallel.workers }
    /// e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64" — recorded with every
    /// run, with the kernel switch when there was one ("...; kernels Prescott → SkylakeX").
    public static var config: String {
        _ = singleThreaded
        let base = String(cString: openblas_get_config())
        guard let s = KernelChoice.switched else { return base }
        return base + "; kernels \(s.from) → \(s.to)"
    }
    /// The kernel set in use (after any switch).
    public static var coreName: String {
        _ = singleThreaded
        return String(cString: openblas_get_corename())
    }
}
