import COpenBLAS
import Foundation
import Testing
@testable import Kernels

/// OpenBLAS's fallback to SSE3 kernels on a CPU it does not know is undone (5× slower sgemm
/// otherwise), and a core it recognised is kept.
@Suite struct KernelChoiceTests {
    static let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]

    @Test func fallbackCoresAreReplacedByWhatTheFlagsAllow() {
        #expect(KernelChoice.replacement(detected: "Prescott", cpuFlags: Self.avx512) == "SkylakeX")
        #expect(KernelChoice.replacement(detected: "Core2", cpuFlags: ["sse3", "avx", "avx2", "fma"]) == "Haswell")
        #expect(KernelChoice.replacement(detected: "Sandybridge", cpuFlags: ["sse3", "avx", "avx2", "fma"]) == "Haswell")
        // AVX-512 without BW/VL (Knights Landing) gets the AVX2 kernels, no AVX2 keeps the fallback.
        #expect(KernelChoice.replacement(detected: "Prescott", cpuFlags: ["avx2", "fma", "avx512f"]) == "Haswell")
        #expect(KernelChoice.replacement(detected: "Prescott", cpuFlags: ["sse3", "avx"]) == nil)
        #expect(KernelChoice.replacement(detected: "Prescott", cpuFlags: []) == nil)
    }

    @Test func recognisedCoresAreKept() {
        for core in ["Haswell", "Zen", "SkylakeX", "Cooperlake"] {
            #expect(KernelChoice.replacement(detected: core, cpuFlags: Self.avx512) == nil, "\(core)")
        }
    }

    /// On this machine: the kernels in use match what the CPU can run, and the record says so.
    @Test func kernelsInUseMatchTheCPU() {
        let flags = KernelChoice.cpuFlags()
        let core = BLAS.coreName
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, flags.contains("avx2"), flags.contains("fma") {
            #expect(KernelChoice.modernCores.contains(core), "OpenBLAS runs \(core) kernels on a CPU with AVX2 (\(BLAS.config))")
        }
        if let s = KernelChoice.switched {
            #expect(s.to == core)
            #expect(BLAS.config.hasSuffix("kernels \(s.from) → \(s.to)"))
        }
    }
}
