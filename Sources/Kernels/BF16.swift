import CDNNL
import Foundation

/// bfloat16: rounding from fp32, and matrix products with bf16 inputs and fp32 accumulation
/// through oneDNN (the "compute dtype" of QLoRA's frozen base products).
///
/// Why oneDNN: the CPUs with AVX512-BF16 (or AMX) multiply bf16 pairs at twice the fp32 FMA rate
/// (Zen 4 here: 216–232 GFLOP/s per core against OpenBLAS sgemm's 100–104, both measured on the
/// training step's shapes), and Debian's OpenBLAS 0.3.21 is built without its `sbgemm`. fp32
/// products stay on OpenBLAS (`BLAS`).
///
/// A product is split over TuneLab's worker pool by rows of C, like `BLAS.gemm`; each part runs
/// oneDNN single-threaded (its OpenMP team would compete with the pool for the same cores), with
/// the running thread's own cached primitive, stream and scratchpad: a thread runs one product at
/// a time, so concurrent products (other callers, other worker counts) never share oneDNN state.
/// The split follows the worker count, but a row's values do not depend on how many rows its
/// part has (oneDNN accumulates each element over k in the same order at every M; checked for
/// the model shapes by `WorkerCountKernelTests`): fixed 12-row-part tiles cost 13–40% on the LM head's
/// products (one oneDNN call per part re-packs all of B).
/// A oneDNN call that failed, with its status (the product it was part of is not computed).
public struct OneDNNError: Error, CustomStringConvertible, Sendable {
    public let what: String
    public let status: Int

    public var description: String {
        let names = [1: "out of memory", 2: "invalid arguments", 3: "unimplemented", 5: "runtime error"]
        return "oneDNN: \(what) failed with status \(status)\(names[status].map { " (\($0))" } ?? "")"
    }
}

public enum BF16 {
    /// fp32 → bf16 bits, rounding to nearest, ties to even (as PyTorch's `.to(torch.bfloat16)`);
    /// NaN stays NaN (quieted), ±inf stays inf.
    @inlinable @inline(__always)
    public static func round(_ f: Float) -> UInt16 {
        let b = f.bitPattern
        if b & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: b >> 16) | 0x40 }
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    @inlinable @inline(__always)
    public static func float(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// dst[i] = round(src[i]) for i < n (16 lanes at a time; split over workers when large).
    public static func convert(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, _ n: Int) {
        if n < 1 << 16 || Parallel.isInsideJob { convertSerial(src, dst, n); return }
        Parallel.forEachRange((n + 15) / 16) { r in
            let lo = r.lowerBound * 16, hi = Swift.min(n, r.upperBound * 16)
            convertSerial(src + lo, dst + lo, hi - lo)
        }
    }

    @inline(__always)
    static func convertSerial(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, _ n: Int) {
        typealias U = SIMD16<UInt32>
        var i = 0
        let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
        while i + 16 <= n {
            let b = (s + 4 * i).loadUnaligned(as: U.self)
            let rounded = (b &+ 0x7FFF &+ ((b &>> 16) & 1)) &>> 16
            let nan = (b & 0x7FFF_FFFF) .> U(repeating: 0x7F80_0000)
            let r = rounded.replacing(with: (b &>> 16) | 0x40, where: nan)
            (d + 2 * i).storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: r), as: SIMD16<UInt16>.self)
            i += 16
        }
        while i < n { dst[i] = round(src[i]); i += 1 }
    }

    /// C[m×n] = A[m×k] · op(B) (+ C when `accumulate`), A and B bf16, C fp32, all row-major with
    /// leading dimensions. op(B) is k×n: B stored n×k when `transB`, k×n otherwise.
    public static func gemm(transB: Bool, m: Int, n: Int, k: Int,
                            a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                            accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) throws {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { for i in 0..<m { (c + i * ldc).initialize(repeating: 0, count: n) } }
            return
        }
        let w = Parallel.workers
        let units = (m + 15) / 16
        let work = Double(m) * Double(n) * Double(k)
        if Parallel.isInsideJob || w <= 1 || units < 2 || work < BLAS.minSplitWork * 2 {
            try run(transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                    accumulate: accumulate, c: c, ldc: ldc)
            return
        }
        let parts = Swift.min(w, units)
        let failure = FirstFailure()
        Parallel.forEachItem(parts) { i in
            let lo = Swift.min(m, units * i / parts * 16), hi = Swift.min(m, units * (i + 1) / parts * 16)
            guard lo < hi else { return }
            do {
                try run(transB: transB, m: hi - lo, n: n, k: k, a: a + lo * lda, lda: lda, b: b, ldb: ldb,
                        accumulate: accumulate, c: c + lo * ldc, ldc: ldc)
            } catch { failure.record(error) }
        }
        try failure.rethrow()
    }

    /// "oneDNN 2.6.3, avx512_core_bf16 (native bf16)" — recorded with runs that compute in bf16.
    public static var backend: String {
        let isa = dnnl_get_effective_cpu_isa()
        return "oneDNN \(versionString), ISA \(isaName(isa))\(isNative ? " (native bf16)" : " (bf16 emulated: slow)")"
    }

    /// Whether the CPU multiplies bf16 in hardware (AVX512-BF16, AMX, AVX2-VNNI-2); elsewhere
    /// oneDNN still computes the same products, only slower than fp32.
    public static var isNative: Bool {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        return [dnnl_cpu_isa_avx512_core_bf16, dnnl_cpu_isa_avx512_core_amx].contains { $0.rawValue & isa == $0.rawValue }
    }

    /// nil when oneDNN can run bf16 products on this CPU; otherwise why not (checked once, by
    /// building a small product: a CPU without any bf16 path makes that fail, not crash later).
    public static let unavailableReason: String? = {
        var src = dnnl_memory_desc_t(), wei = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        var desc = dnnl_matmul_desc_t()
        let dims: [Int64] = [32, 32] + [Int64](repeating: 0, count: 10)
        guard dnnl_memory_desc_init_by_tag(&src, 2, dims, dnnl_bf16, dnnl_ab) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&wei, 2, dims, dnnl_bf16, dnnl_ba) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&dst, 2, dims, dnnl_f32, dnnl_ab) == dnnl_success,
              dnnl_matmul_desc_init(&desc, &src, &wei, nil, &dst) == dnnl_success else {
            return "oneDNN rejected a bf16 matmul description"
        }
        let cache: Cache
        do { cache = try Cache.shared.get() } catch { return "\(error)" }
        var pd: dnnl_primitive_desc_t?
        let status = dnnl_primitive_desc_create(&pd, &desc, nil, cache.engine, nil)
        if let pd { dnnl_primitive_desc_destroy(pd) }
        return status == dnnl_success
            ? nil : "oneDNN \(versionString) has no bf16 matmul for this CPU (ISA \(isaName(dnnl_get_effective_cpu_isa())))"
    }()

    private static var versionString: String {
        guard let v = dnnl_version()?.pointee else { return "?" }
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    private static func isaName(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx2: return "avx2"
        default: return String(format: "0x%x", isa.rawValue)
        }
    }

    private static func run(transB: Bool, m: Int, n: Int, k: Int,
                            a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                            accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) throws {
        let cache = try Cache.shared.get()
        let thread = Int(bitPattern: UInt(pthread_self()))
        let e = try cache.entry(Key(thread: thread, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc,
                                    accumulate: accumulate))
        omp_set_num_threads(1)
        try e.execute(a: a, b: b, c: c, scratch: cache.scratchpad(thread: thread, bytes: e.scratchBytes))
    }

    struct Key: Hashable {
        let thread: Int
        let transB: Bool
        let m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
        let accumulate: Bool
    }

    /// Primitives are JIT-compiled per shape (milliseconds): kept per shape and thread.
    final class Cache: @unchecked Sendable {
        static let shared = Result { try Cache() }
        let engine: dnnl_engine_t
        private var entries: [Key: Entry] = [:]
        /// One scratchpad per thread, grown to the largest need and kept: a thread runs one product at
        /// a time, and fresh memory per shape cost 16% of a b4×256 step in kernel page clearing
        /// (the LM head's shapes change with each batch's trained-token count).
        private var scratch: [Int: (pointer: UnsafeMutableRawPointer, bytes: Int)] = [:]
        private let lock = NSLock()

        func scratchpad(thread: Int, bytes: Int) throws -> UnsafeMutableRawPointer? {
            guard bytes > 0 else { return nil }
            lock.lock(); defer { lock.unlock() }
            if let s = scratch[thread], s.bytes >= bytes { return s.pointer }
            if let old = scratch[thread] { LargeBuffer.free(old.pointer); scratch[thread] = nil }
            let p = try LargeBuffer.allocate(bytes: bytes, for: "oneDNN's scratchpad")
            scratch[thread] = (p, bytes)
            return p
        }

        private init() throws {
            var e: dnnl_engine_t?
            try check(dnnl_engine_create(&e, dnnl_cpu, 0), "engine")
            guard let e else { throw OneDNNError(what: "engine", status: -1) }
            engine = e
        }

        func entry(_ key: Key) throws -> Entry {
            lock.lock(); defer { lock.unlock() }
            if let e = entries[key] { return e }
            // Shapes follow batch lengths; a long run with varied lengths must not grow without bound.
            if entries.count >= 256 { entries.removeAll() }
            let e = try Entry(key, engine: engine)
            entries[key] = e
            return e
        }
    }

    final class Entry {
        let primitive: dnnl_primitive_t
        let stream: dnnl_stream_t
        let engine: dnnl_engine_t
        var src = dnnl_memory_desc_t(), wei = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        var scratchMD = dnnl_memory_desc_t()
        let scratchBytes: Int

        init(_ key: Key, engine: dnnl_engine_t) throws {
            self.engine = engine
            var sd = [Int64](repeating: 0, count: 12), ss = sd, wd = sd, ws = sd, dd = sd, ds = sd
            sd[0] = Int64(key.m); sd[1] = Int64(key.k); ss[0] = Int64(key.lda); ss[1] = 1
            wd[0] = Int64(key.k); wd[1] = Int64(key.n)
            if key.transB { ws[0] = 1; ws[1] = Int64(key.ldb) } else { ws[0] = Int64(key.ldb); ws[1] = 1 }
            dd[0] = Int64(key.m); dd[1] = Int64(key.n); ds[0] = Int64(key.ldc); ds[1] = 1
            let product = "bf16 matmul \(key.m)×\(key.k) · \(key.k)×\(key.n)"
            try check(dnnl_memory_desc_init_by_strides(&src, 2, sd, dnnl_bf16, ss), "\(product): source layout (lda \(key.lda))")
            try check(dnnl_memory_desc_init_by_strides(&wei, 2, wd, dnnl_bf16, ws), "\(product): weights layout (ldb \(key.ldb))")
            try check(dnnl_memory_desc_init_by_strides(&dst, 2, dd, dnnl_f32, ds), "\(product): destination layout (ldc \(key.ldc))")
            var desc = dnnl_matmul_desc_t()
            try check(dnnl_matmul_desc_init(&desc, &src, &wei, nil, &dst), "matmul")
            var attr: dnnl_primitive_attr_t?
            try check(dnnl_primitive_attr_create(&attr), "attributes")
            defer { dnnl_primitive_attr_destroy(attr) }
            try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")
            if key.accumulate {
                var ops: dnnl_post_ops_t?
                try check(dnnl_post_ops_create(&ops), "post-ops")
                defer { dnnl_post_ops_destroy(ops) }
                try check(dnnl_post_ops_append_sum(ops, 1), "sum post-op")
                try check(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops")
            }
            var pd: dnnl_primitive_desc_t?
            try check(dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil),
                  "bf16 matmul \(key.m)×\(key.k) · \(key.k)×\(key.n)")
            defer { dnnl_primitive_desc_destroy(pd) }
            scratchMD = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)?.pointee ?? dnnl_memory_desc_t()
            scratchBytes = dnnl_memory_desc_get_size(&scratchMD)
            var p: dnnl_primitive_t?
            try check(dnnl_primitive_create(&p, pd), "primitive")
            guard let p else { throw OneDNNError(what: "primitive", status: -1) }
            var st: dnnl_stream_t?
            let status = dnnl_stream_create(&st, engine, dnnl_stream_default_flags.rawValue)
            guard status == dnnl_success, let st else {
                dnnl_primitive_destroy(p)
                throw OneDNNError(what: "stream", status: Int(status.rawValue))
            }
            primitive = p
            stream = st
        }

        deinit {
            dnnl_primitive_destroy(primitive)
            dnnl_stream_destroy(stream)
        }

        func execute(a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>, c: UnsafeMutablePointer<Float>,
                     scratch: UnsafeMutableRawPointer?) throws {
            var ma: dnnl_memory_t?, mb: dnnl_memory_t?, mc: dnnl_memory_t?, msp: dnnl_memory_t?
            defer { for mem in [ma, mb, mc, msp] where mem != nil { dnnl_memory_destroy(mem) } }
            try check(dnnl_memory_create(&ma, &src, engine, UnsafeMutableRawPointer(mutating: a)), "memory")
            try check(dnnl_memory_create(&mb, &wei, engine, UnsafeMutableRawPointer(mutating: b)), "memory")
            try check(dnnl_memory_create(&mc, &dst, engine, UnsafeMutableRawPointer(c)), "memory")
            var args = [dnnl_exec_arg_t(arg: 1, memory: ma), dnnl_exec_arg_t(arg: 33, memory: mb),
                        dnnl_exec_arg_t(arg: 17, memory: mc)]   // DNNL_ARG_SRC, _WEIGHTS, _DST
            if let scratch {
                try check(dnnl_memory_create(&msp, &scratchMD, engine, scratch), "memory")
                args.append(dnnl_exec_arg_t(arg: 80, memory: msp))   // DNNL_ARG_SCRATCHPAD
            }
            try check(dnnl_primitive_execute(primitive, stream, Int32(args.count), args), "execute")
            try check(dnnl_stream_wait(stream), "wait")
        }
    }

    /// oneDNN fails on programming errors (shapes are validated by the callers), when it has no
    /// implementation or no memory: an error with its status, never garbage or a crash.
    static func check(_ s: dnnl_status_t, _ what: @autoclosure () -> String) throws {
        if s != dnnl_success { throw OneDNNError(what: what(), status: Int(s.rawValue)) }
    }
}

/// The first error thrown on any worker of a parallel job (the others are dropped).
final class FirstFailure: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?

    func record(_ e: Error) {
        lock.lock(); defer { lock.unlock() }
        if error == nil { error = e }
    }

    func rethrow() throws {
        lock.lock(); defer { lock.unlock() }
        if let error { throw error }
    }
}
