import Foundation

/// Named places where a crash matters (mid-step, mid-checkpoint, mid-commit), for the crash
/// trials (`scripts/crash_trials.sh`): with `TUNELAB_PAUSE_AT=<name>[:<n>]` set, the process
/// stops for good the n-th time (default 1st) it reaches `<name>`, after saying so on stderr,
/// so the trial can SIGKILL it exactly there. Unset (always, outside the trials) it costs one
/// load of a cached value. The places: `step` (after a step's backward, before its update),
/// `checkpoint-write` (half of a checkpoint's optimizer.bin written), `checkpoint-rename` (every
/// file written and synced, the folder not yet renamed into place), `metrics-commit` (a step's
/// metric rows inserted, not committed).
public enum PausePoint {
    private static let target: (name: String, count: Int)? = {
        guard let v = ProcessInfo.processInfo.environment["TUNELAB_PAUSE_AT"], !v.isEmpty else { return nil }
        let parts = v.split(separator: ":", maxSplits: 1).map(String.init)
        return (parts[0], parts.count > 1 ? max(1, Int(parts[1]) ?? 1) : 1)
    }()
    nonisolated(unsafe) private static var seen = 0

    /// Pauses forever if this is the place and time `TUNELAB_PAUSE_AT` names.
    @inline(__always)
    public static func reached(_ name: StaticString) {
        guard let target else { return }
        pauseIfTarget("\(name)", target)
    }

    private static func pauseIfTarget(_ name: String, _ target: (name: String, count: Int)) {
        guard name == target.name else { return }
        seen += 1
        guard seen == target.count else { return }
        let msg = "tunelab: paused at \(name) (\(seen))\n"
        _ = msg.withCString { write(2, $0, strlen($0)) }
        while true { sleep(1000) }
    }
}
