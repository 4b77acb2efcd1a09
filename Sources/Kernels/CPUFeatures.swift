import Foundation

/// What the CPU under this process can run, for kernels chosen at run time.
public enum CPUFeatures {
    /// AVX-512 F, BW, CD, DQ and VL (the x86-64-v4 level QuantDot512 is compiled for), as the
    /// kernel reports them in /proc/cpuinfo (it lists them only when it also saves the registers).
    /// TUNELAB_AVX512=0 turns the 16-lane kernels off (they give the same bits; for comparison).
    public static let avx512: Bool = {
        if ProcessInfo.processInfo.environment["TUNELAB_AVX512"] == "0" { return false }
        #if arch(x86_64)
        return ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"].allSatisfy(KernelChoice.cpuFlags().contains)
        #else
        return false
        #endif
    }()
}
