import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A user's reward program (`grpo.reward_command`, e.g. `python3 my_reward.py`): run once per
/// generation, without a shell, it reads one JSON object per completion on stdin
/// (`{"prompt", "completion", "row", "row_index"}`, one line each) and prints one number per
/// line, in order. The program is found on PATH; its arguments that name files are resolved
/// like every input path (so a notebook's `my_reward.py` next to it is found) and hashed into the
/// record. A missing program or file, a crash, a timeout, a line that is not a number, or too
/// few or too many lines is an error naming the completion's row; the numbers never go in
/// half-read.
struct RewardCommand {
    /// The command as written (recorded with the cell's parameters).
    let text: String
    let executable: String
    let arguments: [String]
    /// Files among the words (the program itself when given as a path, scripts it is given).
    let files: [String]
    let timeout: Double

    /// Parses and checks `text`; `resolve` turns a relative path into the input path the session
    /// would read (`SessionState.inputPath`). Errors are messages for the `reward_command` key.
    init(_ text: String, timeout: Double, resolve: (String) -> String) throws {
        self.text = text
        self.timeout = timeout
        let words = try Self.split(text)
        guard let program = words.first else { throw SessionError("empty: give a program and its arguments, e.g. \"python3 my_reward.py\"") }
        var files: [String] = []
        if program.contains("/") {
            let p = resolve(program)
            guard FileManager.default.isExecutableFile(atPath: p) else { throw SessionError("\(program): no such executable file") }
            executable = p
            files.append(p)
        } else {
            guard let p = Self.onPath(program) else { throw SessionError("\(program): no such program on PATH") }
            executable = p
        }
        var args: [String] = []
        for w in words.dropFirst() {
            let p = resolve(w)
            var isDir: ObjCBool = false
            if !w.hasPrefix("-"), FileManager.default.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue {
                files.append(p); args.append(p)
            } else if Self.looksLikeFile(w) {
                throw SessionError("\(w): no such file (the reward program's argument)")
            } else {
                args.append(w)
            }
        }
        arguments = args
        self.files = files
    }

    /// Shell-like words: whitespace separates, single or double quotes group (no escapes inside
    /// single quotes, `\"` and `\\` inside double quotes). No variables, globs or pipes.
    static func split(_ s: String) throws -> [String] {
        var words: [String] = [], cur = "", inWord = false
        var quote: Character? = nil
        var it = Array(s), i = 0
        while i < it.count {
            let c = it[i]
            if let q = quote {
                if c == q { quote = nil }
                else if q == "\"" && c == "\\" && i + 1 < it.count && (it[i + 1] == "\"" || it[i + 1] == "\\") { cur.append(it[i + 1]); i += 1 }
                else { cur.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c; inWord = true
            } else if c.isWhitespace {
                if inWord { words.append(cur); cur = ""; inWord = false }
            } else if "|&;<>$`".contains(c) {
                throw SessionError("\(s): '\(c)' needs a shell; the command runs without one (write a script and run that)")
            } else {
                cur.append(c); inWord = true
            }
            i += 1
        }
        if quote != nil { throw SessionError("\(s): unclosed quote") }
        if inWord { words.append(cur) }
        it = []
        return words
    }

    /// A word that names a file the user meant to give (a script, a path).
    static func looksLikeFile(_ w: String) -> Bool {
        if w.hasPrefix("-") { return false }
        let ext = (w as NSString).pathExtension.lowercased()
        return w.contains("/") || ["py", "sh", "js", "rb", "pl", "r", "jl", "lua", "json", "jsonl"].contains(ext)
    }

    static func onPath(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let p = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// What one completion tells the program, and how errors name it.
    struct Input {
        var json: String
        var row: Int
        var generation: Int
    }

    /// The program's number for each input, in order.
    func score(_ inputs: [Input]) throws -> [Double] {
        signal(SIGPIPE, SIG_IGN)   // a program that exits early must not kill tunelab through its stdin
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        p.standardInput = stdin; p.standardOutput = stdout; p.standardError = stderr
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        do { try p.run() } catch { throw SessionError("reward_command \(text): cannot start \(executable): \(error)") }

        let payload = Array(inputs.map { $0.json + "\n" }.joined().utf8)
        let writer = Thread {
            let fd = stdin.fileHandleForWriting.fileDescriptor
            var off = 0
            while off < payload.count {
                let n = payload[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n <= 0 { if errno == EINTR { continue }; break }   // EPIPE: the program stopped reading
                off += n
            }
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let out = Collector(stdout.fileHandleForReading), err = Collector(stderr.fileHandleForReading)

        let timedOut = done.wait(timeout: .now() + timeout) == .timedOut
        if timedOut {
            p.terminate()
            if done.wait(timeout: .now() + 2) == .timedOut { kill(p.processIdentifier, SIGKILL); done.wait() }
        }
        let text = String(decoding: out.finish(), as: UTF8.self)
        let errText = String(decoding: err.finish(), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        func whose(_ i: Int) -> String { "row \(inputs[i].row) (generation \(inputs[i].generation))" }
        let tail = errText.isEmpty ? "" : "; its stderr ends: " + String(errText.suffix(400)).trimmingCharacters(in: .whitespacesAndNewlines)
        var values: [Double] = []
        for (i, line) in lines.enumerated() {
            guard i < inputs.count else {
                throw SessionError("reward_command \(self.text) printed \(lines.count) lines for \(inputs.count) completions (one number per line, nothing else)")
            }
            let t = line.trimmingCharacters(in: .whitespaces)
            guard let x = Double(t), x.isFinite else {
                throw SessionError("reward_command \(self.text): line \(i + 1) of its output, \"\(t.prefix(60))\", is not a finite number; it scores \(whose(i))")
            }
            values.append(x)
        }
        if timedOut {
            let at = values.count < inputs.count ? ", waiting for \(whose(values.count))" : ""
            throw SessionError("reward_command \(self.text) did not finish within reward_timeout = \(timeoutText) s (answered \(values.count) of \(inputs.count)\(at))\(tail)")
        }
        if p.terminationReason == .uncaughtSignal || p.terminationStatus != 0 {
            let how = p.terminationReason == .uncaughtSignal ? "was killed by signal \(p.terminationStatus)" : "exited with status \(p.terminationStatus)"
            let at = values.count < inputs.count ? " at \(whose(values.count))" : ""
            throw SessionError("reward_command \(self.text) \(how) after answering \(values.count) of \(inputs.count)\(at)\(tail)")
        }
        guard values.count == inputs.count else {
            throw SessionError("reward_command \(self.text) answered \(values.count) of \(inputs.count) completions; no number for \(whose(values.count))\(tail)")
        }
        return values
    }

    private var timeoutText: String { timeout == timeout.rounded() ? String(Int(timeout)) : "\(timeout)" }

    /// Reads a pipe to its end on a thread of its own (so a chatty stderr cannot block stdout).
    private final class Collector: @unchecked Sendable {
        private var data = Data()
        private let lock = NSLock()
        private let finished = DispatchSemaphore(value: 0)
        init(_ h: FileHandle) {
            Thread { [self] in
                while true {
                    let chunk = h.availableData
                    if chunk.isEmpty { break }
                    lock.lock(); data.append(chunk); lock.unlock()
                }
                finished.signal()
            }.start()
        }
        /// What was read, once the pipe ends (or after 5 s: a grandchild may hold it open).
        func finish() -> Data {
            _ = finished.wait(timeout: .now() + 5)
            lock.lock(); defer { lock.unlock() }
            return data
        }
    }
}
