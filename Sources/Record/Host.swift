#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about processes on this machine, used to tell a live run from one whose process died.
enum Host {
    static let name: String = {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "unknown" }
        return String(cString: buf)
    }()

    /// Process start time in clock ticks since boot (field 22 of /proc/PID/stat), nil where
    /// unavailable. With the pid it identifies a process even after the pid is reused.
    static func processStartTime(_ pid: Int32) -> String? {
        statFields(pid).flatMap { $0.count > 19 ? String($0[19]) : nil }
    }

    /// True if `pid` names a running (not zombie) process that started at `startTime` (when known).
    static func isAlive(pid: Int32, startTime: String?) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno != EPERM { return false }
        guard let fields = statFields(pid) else { return true }  // no /proc: trust kill()
        if fields.first == "Z" || fields.first == "X" { return false }
        if let startTime, fields.count > 19, fields[19] != startTime { return false }
        return true
    }

    /// Fields of /proc/PID/stat after the command name (which may contain spaces): [state, ppid, …].
    private static func statFields(_ pid: Int32) -> [Substring]? {
        #if os(Linux)
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 1024)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return nil }
        let text = String(decoding: buf[0..<n], as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
        #else
        return nil
        #endif
    }
}
