import Foundation

/// Wall time of a training step split by phase (`tunelab bench train --profile`): shows where
/// the step goes and which part scales badly with threads. Off by default (one branch per call).
/// Phases nest; each phase is charged only its own time (children are subtracted), so the
/// shares add up to the whole step. Used from the thread that drives the step only.
public enum StepProfile {
    public enum Phase: Int, CaseIterable, Sendable {
        case frozen, lora, attention, head, other
        public var label: String {
            switch self {
            case .frozen: "frozen projections (dequantise + sgemm)"
            case .lora: "LoRA products"
            case .attention: "attention"
            case .head: "LM head + cross-entropy"
            case .other: "norms, SwiGLU, RoPE, residuals, optimiser"
            }
        }
    }

    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) public private(set) static var seconds = [Double](repeating: 0, count: Phase.allCases.count)
    nonisolated(unsafe) private static var childTime = 0.0

    public static func reset() { seconds = [Double](repeating: 0, count: Phase.allCases.count); childTime = 0 }

    @inline(__always)
    static func measure<T>(_ phase: Phase, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let saved = childTime
        childTime = 0
        let t0 = now()
        defer {
            let elapsed = now() - t0
            seconds[phase.rawValue] += elapsed - childTime
            childTime = saved + elapsed
        }
        return try body()
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
