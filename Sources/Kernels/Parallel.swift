import Foundation
import Synchronization

/// Splits `count` items into contiguous ranges, one per worker, and runs them concurrently.
/// Contiguous ranges (not interleaved items) keep each worker's memory streaming and make
/// results independent of scheduling: every item is computed by the same code either way.
///
/// Results never depend on the worker count (a replay at another `--threads` is bit-identical):
/// a body must compute each item the same whatever range it is in, and a call that runs serially
/// (one worker, too few items, or nested in another job) still marks its thread as inside a job,
/// so the kernels called from it take the same path at 1 worker as at 8.
public enum Parallel {
    nonisolated(unsafe) private static var processWorkers: Int = 2

    /// Worker threads for products and kernels: this thread's own count while it runs
    /// `withWorkers`, otherwise the process's (what `BLAS.setThreads` sets).
    public static var workers: Int {
        get {
            if let own = pthread_getspecific(threadWorkersKey) { return Int(bitPattern: own) }
            return processWorkers
        }
        set { processWorkers = newValue }
    }

    /// Runs `body` with `n` workers for the jobs this thread starts, leaving the process's count
    /// (and other threads, such as concurrently running tests) alone.
    public static func withWorkers<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        let outer = pthread_getspecific(threadWorkersKey)
        pthread_setspecific(threadWorkersKey, UnsafeRawPointer(bitPattern: max(1, n)))
        defer { pthread_setspecific(threadWorkersKey, outer) }
        return try body()
    }

    private static let threadWorkersKey = makeThreadKey()

    /// True on a thread that is running a part of a parallel job: a nested call would run its
    /// parts one after another, so callers with a cheaper serial path (one matrix product
    /// instead of several slices of it) take that path instead. Per thread, not global, so
    /// the path (and the rounding it gives) never depends on what other threads are doing.
    public static var isInsideJob: Bool { pthread_getspecific(WorkerPool.insideJobKey) != nil }

    /// Runs body(i) for i in 0..<count, each item claimed by whichever worker is free next:
    /// for items of unequal cost (attention blocks). Items must not depend on each other.
    public static func forEachItem(_ count: Int, _ body: (Int) -> Void) {
        let w = workers
        if w <= 1 || count <= 1 || count >= 0xFFFF || isInsideJob {
            WorkerPool.insideJob { for i in 0..<count { body(i) } }
            return
        }
        withoutActuallyEscaping(body) { body in
            WorkerPool.shared(for: w).run(parts: count, body)
        }
    }

    @inline(__always)
    public static func forEachRange(_ count: Int, minPerWorker: Int = 1, _ body: (Range<Int>) -> Void) {
        let w = max(1, min(workers, count / max(1, minPerWorker)))
        if w <= 1 || isInsideJob { WorkerPool.insideJob { body(0..<count) }; return }
        withoutActuallyEscaping(body) { body in
            WorkerPool.shared(for: w).run(parts: w) { i in
                let lo = count * i / w, hi = count * (i + 1) / w
                if lo < hi { body(lo..<hi) }
            }
        }
    }
}

/// Persistent helper threads that spin briefly for the next job before sleeping.
/// Decoding one token runs ~200 small parallel loops; waking Dispatch workers through the
/// kernel for each cost ~20% of decode time (measured with perf). A short spin (≈50 µs)
/// hands work over without a system call; past it, helpers sleep on a condition variable
/// so they do not compete with OpenBLAS threads during long matrix products.
final class WorkerPool: @unchecked Sendable {
    private let helpers: Int
    /// generation (high 32 bits) | parts (16) | next unclaimed part (16), in one word so a
    /// participant claims a part of exactly the job it saw.
    private let state = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private var job: ((Int) -> Void)?
    private let lock = NSCondition()
    private var sleeping = 0
    private let submit = NSLock()   // one job at a time
    /// Set (non-nil) on a thread while it runs parts of a job (see `Parallel.isInsideJob`).
    static let insideJobKey = makeThreadKey()

    /// Runs `body` marked as inside a job (restoring the outer mark after: calls nest).
    static func insideJob(_ body: () -> Void) {
        let outer = pthread_getspecific(insideJobKey)
        pthread_setspecific(insideJobKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(insideJobKey, outer) }
        body()
    }

    nonisolated(unsafe) private static var pools: [Int: WorkerPool] = [:]
    private static let poolsLock = NSLock()

    static func shared(for workers: Int) -> WorkerPool {
        poolsLock.lock(); defer { poolsLock.unlock() }
        if let p = pools[workers] { return p }
        let p = WorkerPool(helpers: workers - 1)
        pools[workers] = p
        return p
    }

    private init(helpers: Int) {
        self.helpers = helpers
        for h in 0..<helpers {
            let t = Thread { [unowned self] in self.loop(index: h + 1) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// Runs body(0..<parts); returns when all parts are done. Parts are claimed one at a time
    /// by whoever is free — the caller included — so a helper that is slow to wake (asleep, or
    /// descheduled on a busy machine) never leaves the caller waiting for work it could do.
    /// Which thread runs a part does not change its result.
    /// A call made while the pool is busy (from another thread, or nested inside a job)
    /// runs its parts one after another on the caller: same ranges, same results.
    func run(parts: Int, _ body: @escaping (Int) -> Void) {
        guard parts < 0xFFFF, submit.try() else {
            WorkerPool.insideJob { for i in 0..<parts { body(i) } }
            return
        }
        defer { submit.unlock() }
        job = body
        done.store(0, ordering: .relaxed)
        let gen = (state.load(ordering: .relaxed) >> 32) + 1
        state.store(gen << 32 | parts << 16, ordering: .releasing)
        lock.lock()
        if sleeping > 0 { lock.broadcast() }
        lock.unlock()
        work(gen)
        while done.load(ordering: .acquiring) < parts { spinPause() }
        job = nil
    }

    /// Claims and runs parts of job `gen` until none is left.
    private func work(_ gen: Int) {
        WorkerPool.insideJob { claimAndRun(gen) }
    }

    private func claimAndRun(_ gen: Int) {
        while true {
            let v = state.load(ordering: .acquiring)
            let parts = (v >> 16) & 0xFFFF, next = v & 0xFFFF
            guard v >> 32 == gen, next < parts else { return }
            guard state.compareExchange(expected: v, desired: v + 1, ordering: .acquiringAndReleasing).exchanged else { continue }
            job?(next)
            done.add(1, ordering: .releasing)
        }
    }

    private func loop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while state.load(ordering: .acquiring) >> 32 == seen {
                spins += 1
                if spins < 20_000 { spinPause(); continue }
                lock.lock()
                while state.load(ordering: .acquiring) >> 32 == seen {
                    sleeping += 1
                    lock.wait()
                    sleeping -= 1
                }
                lock.unlock()
            }
            seen = state.load(ordering: .acquiring) >> 32
            work(seen)
        }
    }
}

@inline(__always) func spinPause() {}

/// A new thread-specific data key. Not created inside `precondition`: -Ounchecked (this
/// module's release setting) does not evaluate its condition, so the key stayed 0, another
/// library's slot (the inside-a-job mark overwrote that library's per-thread value, and two
/// keys made this way were the same slot).
func makeThreadKey() -> pthread_key_t {
    var key = pthread_key_t()
    let status = pthread_key_create(&key, nil)
    if status != 0 { fatalError("pthread_key_create failed with status \(status)") }
    return key
}
