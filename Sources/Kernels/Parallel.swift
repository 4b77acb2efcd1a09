import Dispatch

/// Splits `count` items into contiguous ranges, one per worker, and runs them concurrently.
/// Contiguous ranges (not interleaved items) keep each worker's memory streaming and make
/// results independent of scheduling: every item is computed by the same code either way.
public enum Parallel {
    nonisolated(unsafe) public static var workers: Int = 2

    @inline(__always)
    public static func forEachRange(_ count: Int, minPerWorker: Int = 1, _ body: (Range<Int>) -> Void) {
        let w = max(1, min(workers, count / max(1, minPerWorker)))
        if w <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: w) { i in
            let lo = count * i / w, hi = count * (i + 1) / w
            if lo < hi { body(lo..<hi) }
        }
    }
}
