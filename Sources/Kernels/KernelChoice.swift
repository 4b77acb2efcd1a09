import COpenBLAS
import Foundation

/// OpenBLAS's DYNAMIC_ARCH build chooses its kernels from the CPU model number. A CPU newer than
/// the library (Debian's 0.3.21 on a 5th-generation Xeon, model 207) falls back to "Prescott",
/// its SSE3 kernels: sgemm then ran 5× slower here (`tunelab bench train`: 25 instead of
/// 130 GFLOP/s). When that happens and the CPU has AVX-512 or AVX2 (read from its flags), the
/// choice is re-run with OPENBLAS_CORETYPE naming the matching kernel set. A user's own
/// OPENBLAS_CORETYPE is left alone, and a core OpenBLAS recognised is never overridden.
enum KernelChoice {
    /// The switch made, if any (recorded with the BLAS configuration).
    private(set) static var switched: (from: String, to: String)?

    /// Kernel sets of this OpenBLAS that use AVX-512.
    static let avx512Cores: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids"]
    /// Kernel sets of this OpenBLAS that already use AVX2 or AVX-512.
    static let modernCores: Set<String> = avx512Cores.union(["Haswell", "Zen", "Excavator"])

    /// The kernel set to use instead of `detected` on a CPU with these flags, or nil to keep it.
    static func replacement(detected: String, cpuFlags: Set<String>) -> String? {
        guard !modernCores.contains(detected) else { return nil }
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].allSatisfy(cpuFlags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(cpuFlags.contains) { return "Haswell" }
        return nil
    }

    /// The "flags" line of /proc/cpuinfo (empty where there is none).
    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    static func apply() {
        // Only DYNAMIC_ARCH builds export these two (they re-run the choice after
        // OPENBLAS_CORETYPE is set); a build for one fixed CPU has nothing to switch.
        typealias Hook = @convention(c) () -> Void
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let q = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_quit"),
              let i = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_init") else { return }
        let quit = unsafeBitCast(q, to: Hook.self), initialise = unsafeBitCast(i, to: Hook.self)
        let detected = String(cString: openblas_get_corename())
        guard let target = replacement(detected: detected, cpuFlags: cpuFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", target, 1)
        quit()
        initialise()
        unsetenv("OPENBLAS_CORETYPE")   // child processes choose for themselves
        let now = String(cString: openblas_get_corename())
        if now != detected { switched = (detected, now) }
    }
}
