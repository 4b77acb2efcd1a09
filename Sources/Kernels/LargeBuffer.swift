import Glibc
import Foundation

/// A failed allocation, with what it was for (the caller adds the parameter that set the size).
public struct AllocationError: Error, CustomStringConvertible, Sendable {
    public let bytes: Int
    public let purpose: String

    public init(bytes: Int, purpose: String) {
        self.bytes = bytes
        self.purpose = purpose
    }

    /// The same failure, said to be for `purpose` (e.g. naming the parameter behind the size).
    public func `for`(_ purpose: String) -> AllocationError { AllocationError(bytes: bytes, purpose: purpose) }

    public var description: String {
        let size = bytes >= 1 << 30 ? "\(bytes >> 30) GB" : bytes >= 1 << 20 ? "\(bytes >> 20) MB" : "\(bytes) bytes"
        return "out of memory: cannot allocate \(size) for \(purpose)"
    }
}

/// Memory for large Float buffers (activations, dequantised weights, logits), backed by
/// transparent huge pages.
///
/// This machine's kernel gives huge pages only where asked (THP "madvise"). On 4 KB pages the
/// matrix products that write a layer's activations (6 MB for gate/up at 1024 rows) or pack a
/// freshly dequantised weight ran at 105–130 GFLOP/s inside a training step against 165–175
/// in isolation; on 2 MB pages they run at 145–163 (each frozen product timed inside
/// `tunelab bench train` b4×256, runs alternating with and without huge pages). Buffers below `hugeThreshold` get ordinary 64-byte-aligned memory.
public enum LargeBuffer {
    static let hugePage = 2 << 20
    static let hugeThreshold = 1 << 20

    /// At least `bytes` bytes, 64-byte aligned (2 MB aligned and huge-page advised when large).
    /// Release with `free`. Sizes come from model shapes and batch sizes: a size the machine
    /// cannot give (or a negative / overflowing one) is an `AllocationError`, not a crash.
    public static func allocate(bytes: Int, for purpose: @autoclosure () -> String) throws -> UnsafeMutableRawPointer {
        guard bytes >= 0, bytes <= Int.max - hugePage else {
            throw AllocationError(bytes: bytes, purpose: purpose())
        }
        let huge = bytes >= hugeThreshold
        let size = huge ? (bytes + hugePage - 1) / hugePage * hugePage : Swift.max(bytes, 64)
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, huge ? hugePage : 64, size) == 0, let p else {
            throw AllocationError(bytes: bytes, purpose: purpose())
        }
        // Advice only: on a kernel without THP the buffer stays on small pages.
        if huge { _ = madvise(p, size, Int32(MADV_HUGEPAGE)) }
        return p
    }

    public static func allocate(floats n: Int, for purpose: @autoclosure () -> String) throws -> UnsafeMutablePointer<Float> {
        let (bytes, overflow) = Swift.max(n, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard n >= 0, !overflow else { throw AllocationError(bytes: overflow ? Int.max : n, purpose: purpose()) }
        return try allocate(bytes: bytes, for: purpose()).bindMemory(to: Float.self, capacity: Swift.max(n, 1))
    }

    /// A 64-byte aligned placeholder for empty growable buffers (never written: they hold nothing
    /// until they grow, and are never freed).
    public static let placeholder: UnsafeMutableRawPointer = {
        let p = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
        return p
    }()

    public static func free(_ p: UnsafeMutableRawPointer) { if p != placeholder { Glibc.free(p) } }
    public static func free(_ p: UnsafeMutablePointer<Float>) { free(UnsafeMutableRawPointer(p)) }
}

/// Memory this process may use at most: RAM plus swap, or the cgroup's limit when lower. Sizes
/// set by parameters (batch size × sequence length, LoRA rank, tokens to generate) are checked
/// against it before anything is allocated, so a setting no machine could run is an error that
/// names the setting, not an out-of-memory kill halfway through.
public enum MemoryBudget {
    public static let bytes: Int = {
        var total = 0
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") || line.hasPrefix("SwapTotal:") {
                if let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) { total += kb * 1024 }
            }
        }
        if total == 0 { total = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE))) }
        if let limit = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let n = Int(limit.trimmingCharacters(in: .whitespacesAndNewlines)), n > 0 {
            total = Swift.min(total, n)
        }
        return total
    }()

    /// Throws when `bytes` (an estimate, in Double so that absurd settings do not overflow) is
    /// more than the process can have; `what` names the settings behind it.
    public static func require(_ bytes: Double, for what: @autoclosure () -> String) throws {
        guard bytes.isFinite, bytes <= Double(self.bytes) else {
            throw MemoryBudgetError(bytes: bytes, budget: self.bytes, what: what())
        }
    }
}

/// A setting that needs more memory than the machine has (checked before allocating).
public struct MemoryBudgetError: Error, CustomStringConvertible, Sendable {
    public let bytes: Double
    public let budget: Int
    public let what: String

    public var description: String {
        func gb(_ b: Double) -> String { b >= 1e15 ? String(format: "%.1e", b / 1e9) : String(format: "%.1f", b / 1e9) }
        return "not enough memory: \(what) needs about \(gb(bytes)) GB; this machine has \(gb(Double(budget))) GB (RAM + swap)"
    }
}
