import CEditLine
import Foundation
import Kernels

/// Where the REPL's lines come from: a terminal (libedit), a pipe, or a test script.
public protocol LineReader: AnyObject {
    /// The next line without its newline; nil at end of input.
    func readLine(prompt: String) -> String?
    /// Remembers a line the user entered (terminal history); no-op elsewhere.
    func addHistory(_ line: String)
}

/// Plain `readLine` for piped input: no prompt, no editing, no history (libedit reads one byte
/// per system call and would echo prompts into the pipe's consumer).
public final class PipeLineReader: LineReader {
    public init() {}
    public func readLine(prompt: String) -> String? { Swift.readLine(strippingNewline: true) }
    public func addHistory(_ line: String) {}
}

/// A libedit reader when stdin is a terminal, plain line reading otherwise.
public func makeLineReader(completer: @escaping (String) -> [String] = {
    Completion.candidates(for: $0, extraCommands: Repl.defaultExecutorCommands.map(\.name))
}) -> LineReader {
    if isatty(0) != 0, let r = EditLineReader(historyPath: EditLineReader.defaultHistoryPath, completer: completer) { return r }
    return PipeLineReader()
}

/// Line editing, history persisted to a file, and tab completion through libedit.
public final class EditLineReader: LineReader {
    /// `$TUNELAB_HISTORY`, else `~/.tunelab_history`.
    public static var defaultHistoryPath: String? {
        let env = ProcessInfo.processInfo.environment
        if let p = env["TUNELAB_HISTORY"], !p.isEmpty { return p }
        if let home = env["HOME"], !home.isEmpty { return home + "/.tunelab_history" }
        return nil
    }

    private let el: OpaquePointer
    private let history: OpaquePointer
    private var event = HistEvent()
    private let historyPath: String?

    // libedit calls back through C function pointers, which cannot capture: the one live
    // reader's prompt and completer are kept here.
    nonisolated(unsafe) private static var promptBuffer: UnsafeMutablePointer<CChar>? = strdup("> ")
    nonisolated(unsafe) private static var completer: (String) -> [String] = { _ in [] }

    public init?(historyPath: String?, completer: @escaping (String) -> [String]) {
        Self.ensureUTF8Locale()
        guard let el = el_init("tunelab", stdin, stdout, stderr) else { return nil }
        guard let h = history_init() else { el_end(el); return nil }
        self.el = el
        self.history = h
        self.historyPath = historyPath
        Self.completer = completer
        _ = tunelab_history_setsize(h, &event, 1000)
        _ = tunelab_history_setunique(h, &event, 1)
        if let p = historyPath { _ = tunelab_history_load(h, &event, p) }
        _ = tunelab_el_set_editor(el, "emacs")
        _ = tunelab_el_set_signal(el, 1)
        _ = tunelab_el_set_hist(el, h)
        _ = tunelab_el_set_prompt(el) { _ in EditLineReader.promptBuffer }
        _ = tunelab_el_addfn(el, "tunelab-complete", "Complete a command, cell kind or parameter") { e, _ in
            guard let e else { return UInt8(CC_ERROR) }
            return EditLineReader.complete(e)
        }
        _ = tunelab_el_bind(el, "^I", "tunelab-complete")
        _ = el_source(el, nil)  // the user's ~/.editrc, if any
    }

    deinit {
        history_end(history)
        el_end(el)
    }

    public func readLine(prompt: String) -> String? {
        free(Self.promptBuffer)
        Self.promptBuffer = strdup(prompt)
        while true {
            var count: Int32 = 0
            guard let p = el_gets(el, &count) else {
                // Ctrl-C at the prompt interrupts the read (EINTR): drop the line, prompt again.
                if count < 0 && errno == EINTR {
                    Interrupt.clear()  // else a second Ctrl-C at the prompt would count as "twice" and exit
                    fputs("\n", stdout)
                    fflush(stdout)
                    el_reset(el)
                    continue
                }
                if count == 0 { fputs("\n", stdout) }  // Ctrl-D: end the prompt's line
                return nil
            }
            var line = String(cString: p)
            if line.hasSuffix("\n") { line.removeLast() }
            return line
        }
    }

    public func addHistory(_ line: String) {
        let line = line.trimmingCharacters(in: .whitespaces)
        guard !line.isEmpty else { return }
        _ = tunelab_history_enter(history, &event, line)
        if let p = historyPath { _ = tunelab_history_save(history, &event, p) }
    }

    /// Completes the word before the cursor: inserts the candidates' common part, or lists them.
    private static func complete(_ e: OpaquePointer) -> UInt8 {
        guard let info = el_line(e)?.pointee, let start = info.buffer, let cursor = info.cursor, cursor >= start else {
            return UInt8(CC_ERROR)
        }
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(start).assumingMemoryBound(to: UInt8.self), count: cursor - start)
        let before = String(decoding: bytes, as: UTF8.self)
        let word = before.last == " " ? "" : String(before.split(separator: " ").last ?? "")
        let candidates = completer(before)
        guard !candidates.isEmpty else { return UInt8(CC_REFRESH_BEEP) }
        var insert = String(Completion.commonPrefix(candidates).dropFirst(word.count))
        if candidates.count == 1, let only = candidates.first, !only.hasSuffix("="), !only.hasSuffix(".") { insert += " " }
        if !insert.isEmpty {
            return el_insertstr(e, insert) == 0 ? UInt8(CC_REFRESH) : UInt8(CC_ERROR)
        }
        // Nothing to add: show the choices under the line.
        fputs("\n" + candidates.joined(separator: "  ") + "\n", stdout)
        fflush(stdout)
        return UInt8(CC_REDISPLAY)
    }

    /// libedit drops non-ASCII input unless the locale's character set is UTF-8.
    private static func ensureUTF8Locale() {
        setlocale(LC_ALL, "")
        if let cs = nl_langinfo(nl_item(CODESET)), String(cString: cs).uppercased().replacingOccurrences(of: "-", with: "") == "UTF8" { return }
        setlocale(LC_ALL, "C.UTF-8")
    }
}
