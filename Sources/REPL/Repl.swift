import Foundation
import Kernels
import Notebook

/// What runs cells and record-level commands; the REPL only sequences and reports.
public protocol CellExecutor: AnyObject {
    /// Runs one cell with fully resolved parameters (prints its own progress to stdout) and
    /// returns a one-line summary. Throws on failure: the REPL prints the error and goes on.
    /// `changes` are the session's overrides applied to this cell (key → canonical text).
    /// A cell stopped by Ctrl-C should return (or throw) promptly once `Interrupt.requested`.
    func execute(_ cell: Cell, params: ResolvedParams, changes: [String: String]) throws -> String
    /// `:runs`, `:plot …`, `:replay …`, `:show-run …` etc. (name without the colon) — commands
    /// the executor handles; return false if unknown.
    func command(_ name: String, arguments: [String]) throws -> Bool
    /// Called once when the REPL ends (record the session run as finished). `interrupted`: the
    /// last cell run was stopped by Ctrl-C.
    func finish(interrupted: Bool)
}

public enum CellState: Equatable, Sendable {
    case notRun
    case ok(summary: String)
    case failed(error: String)
    case interrupted

    public var label: String {
        switch self {
        case .notRun: return "not run"
        case .ok: return "ok"
        case .failed: return "failed"
        case .interrupted: return "interrupted"
        }
    }
}

/// The command loop over a notebook (or an empty session).
public final class Repl {
    public let notebook: Notebook?
    /// The notebook's cells, then any typed at the prompt.
    public private(set) var cells: [Cell]
    public private(set) var states: [CellState]
    /// 0-based position of the next cell `:next` runs (== cells.count past the end).
    public private(set) var cursor = 0
    /// Session overrides per kind (`--set`, `:set`), applied to every later run of that kind.
    public private(set) var overrides: [CellKind: [String: ParamValue]] = [:]

    private let executor: CellExecutor
    private let reader: LineReader
    private let out: (String) -> Void
    private let err: (String) -> Void
    /// Executor commands for `:help` and completion: name (no colon) and one-line help.
    public let executorCommands: [(name: String, help: String)]
    private var lastInterrupted = false
    private var finished = false

    public static let defaultExecutorCommands: [(name: String, help: String)] = [
        ("runs", "list recorded runs"),
        ("show-run", "show-run ID: parameters, environment and results of a run"),
        ("diff", "diff ID ID: what differs between two runs"),
        ("plot", "plot ID… [--metric loss|eval_loss|grad_norm|lr] [--smooth W] [--log-y] [-o FILE]"),
        ("replay", "replay ID: run a recorded run again"),
    ]

    public init(notebook: Notebook?, executor: CellExecutor, reader: LineReader, overrides: [Override] = [],
                executorCommands: [(name: String, help: String)] = Repl.defaultExecutorCommands,
                out: @escaping (String) -> Void = Repl.printOut, err: @escaping (String) -> Void = Repl.printErr) {
        self.notebook = notebook
        self.cells = notebook?.cells ?? []
        self.states = Array(repeating: .notRun, count: cells.count)
        self.executor = executor
        self.reader = reader
        self.executorCommands = executorCommands
        self.out = out
        self.err = err
        for o in overrides { self.overrides[o.kind, default: [:]][o.key] = o.value }
    }

    public static func printOut(_ s: String) { print(s); fflush(stdout) }
    public static func printErr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    public var prompt: String {
        guard !cells.isEmpty else { return "tunelab> " }
        let at = cursor < cells.count ? "\(cursor + 1)/\(cells.count) \(cells[cursor].kind.rawValue)" : "end"
        return "tunelab [\(at)]> "
    }

    /// Reads and handles lines until `:quit` or end of input, then calls `executor.finish`.
    public func run() {
        Interrupt.install()
        if let nb = notebook {
            out("\(nb.title ?? nb.path): \(cells.count) cell\(cells.count == 1 ? "" : "s"). :next runs the cell under the cursor, :cells lists them, :help for more.")
        } else {
            out("tunelab: type a cell (e.g. `train max_steps=20 lr=1e-4`) or a command; :help lists them.")
        }
        while let line = reader.readLine(prompt: prompt) {
            Interrupt.clear()  // a Ctrl-C at the prompt must not stop the next cell
            reader.addHistory(line)
            if !handle(line) { break }
        }
        finish()
    }

    /// Runs every cell from the first, stopping at the first that fails or is interrupted
    /// (`tunelab run`). Returns whether all succeeded. Does not call `finish`.
    public func runAll() -> Bool {
        runCells(Array(cells.indices))
    }

    /// Handles one line; false means quit.
    @discardableResult
    public func handle(_ raw: String) -> Bool {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") { return true }
        if line.hasPrefix(":") { return command(line) }
        let word = String(line.prefix { $0 != " " && $0 != "\t" })
        if CellKind(rawValue: word) != nil {
            do {
                let cell = try parseTypedCell(line, index: cells.count + 1)
                let atEnd = cursor >= cells.count
                cells.append(cell)
                states.append(.notRun)
                if atEnd { cursor = cells.count }   // past the end stays past the end
                _ = runCells([cells.count - 1])
            } catch {
                err("error: \(error)")
            }
            return true
        }
        let kinds = CellKind.allCases.map(\.rawValue)
        var msg = "error: '\(word)' is neither a cell kind (\(kinds.joined(separator: ", "))) nor a :command"
        if let s = closest(to: word, in: kinds) { msg += " (did you mean '\(s)'?)" }
        err(msg + "; :help lists commands")
        return true
    }

    // MARK: commands

    private func command(_ line: String) -> Bool {
        let args: [String]
        do { args = try splitArguments(line) } catch {
            err("error: \(error)")
            return true
        }
        guard let name = args.first else { return true }
        let rest = Array(args.dropFirst())
        switch name {
        case ":quit", ":q", ":exit":
            return false
        case ":next", ":n":
            guard cursor < cells.count else {
                err("error: no more cells (:run N runs cell N, :goto N moves the cursor)")
                return true
            }
            _ = runCells([cursor])
        case ":run", ":r":
            guard let which = rest.first else { err("error: usage: :run N | :run N-M | :run all"); return true }
            if which == "all" { _ = runCells(Array(cells.indices)); return true }
            guard let range = cellRange(which) else { return true }
            _ = runCells(Array(range))
        case ":cells":
            listCells()
        case ":show":
            guard let i = rest.first.map(cellNumber) ?? (cursor < cells.count ? cursor : nil) else {
                if rest.isEmpty { err("error: usage: :show N") }
                return true
            }
            showCell(i)
        case ":goto":
            guard let i = rest.first.flatMap(cellNumber) else { if rest.isEmpty { err("error: usage: :goto N") }; return true }
            cursor = i
            out("cursor at cell \(i + 1) (\(cells[i].kind.rawValue))")
        case ":set":
            // From the raw text: values keep their quotes and spaces (`:set train.targets=["q", "v"]`).
            let raw = line.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
            setOverrides(raw.isEmpty ? [] : Self.splitAssignments(raw))
        case ":unset":
            unset(rest)
        case ":help", ":h", ":?":
            help(rest.first)
        default:
            let bare = String(name.dropFirst())
            do {
                if try executor.command(bare, arguments: rest) { return true }
            } catch {
                err("error: \(error)")
                return true
            }
            let known = Completion.replCommands + executorCommands.map { ":" + $0.name }
            var msg = "error: unknown command '\(name)'"
            if let s = closest(to: name, in: known) { msg += " (did you mean '\(s)'?)" }
            err(msg + "; :help lists commands")
        }
        return true
    }

    /// "3" → index 2, with an error printed for anything out of range.
    private func cellNumber(_ s: String) -> Int? {
        guard let n = Int(s) else { err("error: '\(s)' is not a cell number"); return nil }
        guard n >= 1, n <= cells.count else {
            err("error: no cell \(n) (\(cells.isEmpty ? "there are no cells" : "cells are 1-\(cells.count)"))")
            return nil
        }
        return n - 1
    }

    private func cellRange(_ s: String) -> ClosedRange<Int>? {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2 {
            guard let a = cellNumber(parts[0]), let b = cellNumber(parts[1]) else { return nil }
            guard a <= b else { err("error: empty range \(s)"); return nil }
            return a...b
        }
        return cellNumber(s).map { $0...$0 }
    }

    private func setOverrides(_ args: [String]) {
        if args.isEmpty {
            let all = overrides.sorted { $0.key.rawValue < $1.key.rawValue }.flatMap { kind, kv in
                kv.keys.sorted().map { "  \(kind.rawValue).\($0) = \(kv[$0]!.toml)" }
            }
            out(all.isEmpty ? "no parameter changes (:set kind.key=value)" : "parameter changes:\n" + all.joined(separator: "\n"))
            return
        }
        for item in args {
            do {
                let o = try Override(parsing: item)
                overrides[o.kind, default: [:]][o.key] = o.value
                out("\(o.kind.rawValue).\(o.key) = \(o.value.toml) (for later \(o.kind.rawValue) cells)")
            } catch {
                err("error: \(error)")
            }
        }
    }

    /// `train.lr=1e-4 train.r=8 infer.question=What is X?` → one item per `kind.key=`.
    static func splitAssignments(_ text: String) -> [String] {
        guard let re = try? NSRegularExpression(pattern: #"\s+(?=[A-Za-z]+\.[A-Za-z_0-9]+\s*=)"#) else { return [text] }
        let ns = text as NSString
        var items: [String] = [], start = 0
        for m in re.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            // A split point inside quotes or brackets belongs to the value.
            let before = ns.substring(with: NSRange(location: start, length: m.range.location - start))
            if before.filter({ $0 == "\"" }).count % 2 == 1 || before.filter({ $0 == "[" }).count > before.filter({ $0 == "]" }).count { continue }
            items.append(before)
            start = m.range.location + m.range.length
        }
        items.append(ns.substring(from: start))
        return items
    }

    private func unset(_ args: [String]) {
        guard !args.isEmpty else { err("error: usage: :unset kind.key | :unset all"); return }
        for a in args {
            if a == "all" { overrides = [:]; out("all parameter changes removed"); continue }
            let parts = a.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2, let kind = CellKind(rawValue: parts[0]), overrides[kind]?[parts[1]] != nil else {
                err("error: no change to \(a) (:set lists them)")
                continue
            }
            overrides[kind]?[parts[1]] = nil
            out("\(a) back to the notebook's value")
        }
    }

    // MARK: cells

    /// Runs cells in order, stopping at a failure or interruption; the cursor moves past each.
    private func runCells(_ indices: [Int]) -> Bool {
        for i in indices {
            let cell = cells[i]
            // A cell typed at the prompt says what it wants: its own keys beat session overrides.
            let typed = cell.file == nil && cell.startLine == 0
            let kindOverrides = (overrides[cell.kind] ?? [:]).filter { !typed || cell.value($0.key) == nil }
            let params: ResolvedParams
            do { params = try cell.resolve(overrides: kindOverrides) } catch {
                states[i] = .failed(error: "\(error)")
                err("error: cell \(i + 1) (\(cell.kind.rawValue)): \(error)")
                return false
            }
            let changes = kindOverrides.mapValues(\.text)
            if !changes.isEmpty {
                out("cell \(i + 1) (\(cell.kind.rawValue)) with " + changes.keys.sorted().map { "\($0)=\(changes[$0]!)" }.joined(separator: ", "))
            }
            Interrupt.clear()
            var state: CellState
            do {
                let summary = try executor.execute(cell, params: params, changes: changes)
                state = .ok(summary: summary)
            } catch {
                state = .failed(error: "\(error)")
            }
            if Interrupt.requested { state = .interrupted }
            Interrupt.clear()
            states[i] = state
            lastInterrupted = state == .interrupted
            // The cursor moves past a notebook cell that succeeded and stays on one that did
            // not, so `:set …` then `:next` retries it. A cell typed at the prompt is an aside:
            // the cursor stays where it was in the notebook.
            if !typed {
                if case .ok = state { if i >= cursor { cursor = i + 1 } } else { cursor = i }
            }
            switch state {
            case .ok(let summary): out("cell \(i + 1) (\(cell.kind.rawValue)): \(summary)")
            case .failed(let e): err("error: cell \(i + 1) (\(cell.kind.rawValue)) failed: \(e)"); return false
            case .interrupted: err("cell \(i + 1) (\(cell.kind.rawValue)) interrupted"); return false
            case .notRun: break
            }
        }
        return true
    }

    private func listCells() {
        guard !cells.isEmpty else { out("no cells yet (type one, e.g. `train max_steps=20`)"); return }
        let w = String(cells.count).count
        var lines: [String] = []
        for (i, c) in cells.enumerated() {
            let mark = i == cursor ? ">" : " "
            let n = String(i + 1).leftPadded(w)
            let set = c.params.map { "\($0.key)=\($0.value.toml)" }.joined(separator: " ")
            var line = "\(mark) \(n)  \(c.kind.rawValue.rightPadded(6))  \(states[i].label.rightPadded(11))"
            switch states[i] {
            case .ok(let s): line += "  " + s
            case .failed(let e): line += "  " + e
            default: line += set.isEmpty ? "" : "  " + (set.count > 60 ? String(set.prefix(57)) + "..." : set)
            }
            lines.append(String(line.reversed().drop { $0 == " " }.reversed()))
        }
        out(lines.joined(separator: "\n"))
    }

    private func showCell(_ i: Int) {
        let c = cells[i]
        var text = "cell \(i + 1) (\(c.kind.rawValue))" + (c.startLine > 0 ? ", \(c.file ?? "notebook") lines \(c.startLine)-\(c.endLine)" : ", typed") + ": \(states[i].label)\n"
        text += c.source
        if let o = overrides[c.kind], !o.isEmpty {
            text += "\nchanges for the next run: " + o.keys.sorted().map { "\($0) = \(o[$0]!.toml)" }.joined(separator: ", ")
        }
        out(text)
    }

    private func help(_ topic: String?) {
        if let topic, let kind = CellKind(rawValue: topic) {
            var lines = ["\(kind.rawValue): \(CellSchema.summary(of: kind))"]
            let specs = CellSchema.params(for: kind)
            let w = specs.map(\.key.count).max() ?? 0
            for s in specs {
                let choices = s.choices.isEmpty || s.type != .string ? "" : " (\(s.choices.joined(separator: "|")))"
                lines.append("  \(s.key.rightPadded(w)) = \(s.defaultValue.toml.rightPadded(10))  \(s.help)\(choices)")
            }
            out(lines.joined(separator: "\n"))
            return
        }
        var lines = [
            "Commands:",
            "  :next            run the cell under the cursor and move on",
            "  :run N | N-M | all   run cells",
            "  :cells           list cells and their state",
            "  :show [N]        print a cell",
            "  :goto N          move the cursor",
            "  :set kind.key=value   change a parameter for later runs of that kind (:set lists changes)",
            "  :unset kind.key | all",
        ]
        for c in executorCommands { lines.append("  :\(c.name.rightPadded(15)) \(c.help)") }
        lines += ["  :help [KIND]     this help, or a cell kind's parameters", "  :quit", "",
                  "Cells (type one to run it, e.g. `train max_steps=20 lr=1e-4`):"]
        for k in CellKind.allCases { lines.append("  \(k.rawValue.rightPadded(7)) \(CellSchema.summary(of: k))") }
        lines.append("Tab completes commands, kinds and parameters; Ctrl-C stops a running cell.")
        out(lines.joined(separator: "\n"))
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        executor.finish(interrupted: lastInterrupted)
    }
}

/// Splits a command line into words: spaces separate, '…' and "…" quote (with \" and \\ inside
/// double quotes).
public func splitArguments(_ line: String) throws -> [String] {
    var words: [String] = [], word = "", inWord = false
    var quote: Character?
    var it = line.makeIterator()
    while let c = it.next() {
        if let q = quote {
            if c == q { quote = nil; continue }
            if q == "\"", c == "\\", let n = it.next() { word.append(n); continue }
            word.append(c)
        } else if c == " " || c == "\t" {
            if inWord { words.append(word); word = ""; inWord = false }
        } else if c == "\"" || c == "'" {
            quote = c; inWord = true
        } else {
            word.append(c); inWord = true
        }
    }
    if let q = quote { throw NotebookError(message: "unclosed \(q) in the command") }
    if inWord { words.append(word) }
    return words
}

extension String {
    func rightPadded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
