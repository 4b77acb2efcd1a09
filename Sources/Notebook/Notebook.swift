import Foundation

public enum CellKind: String, CaseIterable, Codable, Sendable {
    case load, format, train, infer, eval, score, export, dpo, grpo
}

/// One `key = value` line of a cell.
public struct CellParam: Equatable, Sendable {
    public let key: String
    public let value: ParamValue
    /// Notebook line of the key (0 for a cell typed in the REPL).
    public let line: Int

    public init(key: String, value: ParamValue, line: Int) {
        self.key = key
        self.value = value
        self.line = line
    }
}

/// A fenced block whose info string is a cell kind.
public struct Cell: Equatable, Sendable {
    /// Position among the notebook's cells, from 1.
    public var index: Int
    public let kind: CellKind
    public let params: [CellParam]
    /// Lines of the opening and closing fence (0 for a typed cell).
    public let startLine: Int
    public let endLine: Int
    /// The block as written, fences included (for a typed cell: the line typed).
    public let source: String
    /// Notebook file, for error messages (nil for a typed cell).
    public let file: String?

    public init(index: Int, kind: CellKind, params: [CellParam], startLine: Int = 0, endLine: Int = 0, source: String, file: String? = nil) {
        self.index = index
        self.kind = kind
        self.params = params
        self.startLine = startLine
        self.endLine = endLine
        self.source = source
        self.file = file
    }

    public func value(_ key: String) -> ParamValue? { params.last { $0.key == key }?.value }
}

/// A Markdown notebook: prose and cells. Fenced blocks with any other info string are prose.
public struct Notebook: Equatable, Sendable {
    public let path: String
    /// Text of the first `# ` heading outside code blocks (nil if none).
    public let title: String?
    public let cells: [Cell]
    /// The file's text, as read (for hashing and recording).
    public let text: String

    /// Reads and parses (and validates every cell against the schema).
    public init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw NotebookError(file: path, message: "cannot read the notebook: \((error as NSError).localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw NotebookError(file: path, message: "the notebook is not valid UTF-8")
        }
        try self.init(text: text, path: path)
    }

    public init(text: String, path: String) throws {
        self.path = path
        self.text = text
        var title: String?
        var cells: [Cell] = []
        // Split on LF; a trailing CR (CRLF files) is dropped from each line.
        // "\r\n" is one Character, so it is split on explicitly.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        var i = 0
        while i < lines.count {
            let line = lines[i]
            guard let fence = Fence(line) else {
                if title == nil, let t = Self.heading(line) { title = t }
                i += 1
                continue
            }
            // Find the closing fence: same character, at least as long, nothing after it.
            var j = i + 1
            while j < lines.count, !fence.closes(lines[j]) { j += 1 }
            let word = fence.info.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "{" }).first.map(String.init) ?? ""
            if let kind = CellKind(rawValue: word) {
                guard j < lines.count else {
                    throw NotebookError(file: path, line: i + 1, key: kind.rawValue, message: "cell is not closed: no \(String(repeating: fence.char, count: fence.length)) after it")
                }
                let body = lines[(i + 1)..<j].joined(separator: "\n")
                let params = try Self.parseBody(body, firstLine: i + 2, kind: kind, file: path)
                let source = lines[i...j].joined(separator: "\n")
                let cell = Cell(index: cells.count + 1, kind: kind, params: params, startLine: i + 1, endLine: j + 1, source: source, file: path)
                _ = try cell.resolve()  // types, choices and ranges, with the line of the offending key
                cells.append(cell)
            } else if !word.isEmpty, let near = Self.misspelledKind(word) {
                throw NotebookError(file: path, line: i + 1, key: word, message: "unknown cell kind (cells are \(CellKind.allCases.map(\.rawValue).joined(separator: ", ")))", suggestion: near)
            }
            i = j + 1
        }
        self.title = title
        self.cells = cells
    }

    /// A `key = value` body (comments and blank lines allowed). Keys are checked against the
    /// kind's schema; duplicates are errors.
    static func parseBody(_ body: String, firstLine: Int, kind: CellKind, file: String?) throws -> [CellParam] {
        let keys = CellSchema.params(for: kind).map(\.key)
        do {
            return try TOMLScanner.parseDocument(body, firstLine: firstLine) { key, line in
                guard keys.contains(key) else {
                    throw NotebookError(line: line, key: "\(kind.rawValue).\(key)", message: "unknown parameter of a \(kind.rawValue) cell",
                                        suggestion: closest(to: key, in: keys))
                }
                return "\(kind.rawValue).\(key)"
            }
        } catch let e as NotebookError {
            throw e.at(file: file)
        }
    }

    /// An info string that is probably a mistyped cell kind ("trian", "Train"), not a language.
    static func misspelledKind(_ word: String) -> String? {
        let w = word.lowercased()
        if let k = CellKind(rawValue: w) { return k.rawValue }
        for k in CellKind.allCases where editDistance(w, k.rawValue) == 1 && w.count >= 3 { return k.rawValue }
        return nil
    }

    static func heading(_ line: Substring) -> String? {
        var l = line.drop { $0 == " " }
        guard line.count - l.count <= 3, l.hasPrefix("# ") || l == "#" else { return nil }
        l = l.dropFirst()
        var t = l.trimmingCharacters(in: .whitespaces)
        // Closing sequence of #s ("# Title #") is not part of the title.
        if let r = t.range(of: #"\s+#+$"#, options: .regularExpression) { t.removeSubrange(r) }
        return t.isEmpty ? nil : t
    }
}

/// A CommonMark code fence: up to 3 spaces, then 3+ backticks or tildes, then the info string.
struct Fence {
    let char: Character
    let length: Int
    let indent: Int
    let info: String

    init?(_ line: Substring) {
        let trimmed = line.drop { $0 == " " }
        indent = line.count - trimmed.count
        guard indent <= 3, let c = trimmed.first, c == "`" || c == "~" else { return nil }
        let run = trimmed.prefix { $0 == c }
        guard run.count >= 3 else { return nil }
        let info = trimmed.dropFirst(run.count).trimmingCharacters(in: .whitespaces)
        if c == "`" && info.contains("`") { return nil }
        char = c
        length = run.count
        self.info = info
    }

    func closes(_ line: Substring) -> Bool {
        let trimmed = line.drop { $0 == " " }
        guard line.count - trimmed.count <= 3 else { return false }
        let run = trimmed.prefix { $0 == char }
        return run.count >= length && trimmed.dropFirst(run.count).allSatisfy { $0 == " " || $0 == "\t" }
    }
}
