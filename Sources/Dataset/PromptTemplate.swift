import Foundation

/// A prompt template: text with `{Column}` placeholders, or the tutorials' positional `{}`
/// filled in order from `columns`; `{{` and `}}` are literal braces (as Python's str.format).
///
/// Split point: the response (the trained part) begins at the first placeholder naming one
/// of `responseColumns` (default `Complex_CoT`, `Response`). Everything before it is the
/// prompt, so for the medical-cot template the prompt ends with `### Response:\n<think>\n`
/// and `inferencePrompt` is exactly the prefix the model saw during training. With no
/// `responseColumns` the whole template is the prompt (GRPO's prompts have no response).
///
/// A placeholder naming an object column (MedQA's `options`, loaded as `options.A`, `options.B`,
/// …) becomes its entries as lines `A. text`, in key order.
public struct PromptTemplate: Sendable {
    enum Piece: Sendable, Equatable { case text(String); case column(String) }
    let pieces: [Piece]
    /// Index into `pieces` where the response begins.
    let split: Int
    public let source: String
    public let responseColumns: [String]

    /// Parses `text`. `columns` fills positional `{}` placeholders in order.
    public init(_ text: String, columns: [String] = [], responseColumns: [String] = ["Complex_CoT", "Response"],
                source: String = "template") throws {
        self.source = source
        self.responseColumns = responseColumns
        var pieces: [Piece] = []
        var lit = ""
        var positional = 0
        let chars = Array(text)
        var i = 0
        var line = 1
        while i < chars.count {
            let c = chars[i]
            if c == "\n" { line += 1 }
            if c == "{" {
                if i + 1 < chars.count && chars[i + 1] == "{" { lit.append("{"); i += 2; continue }
                guard let close = chars[(i + 1)...].firstIndex(of: "}") else {
                    throw DatasetError("\(source): line \(line): \"{\" without a closing \"}\" (write {{ for a literal brace)")
                }
                let name = String(chars[(i + 1)..<close]).trimmingCharacters(in: .whitespaces)
                if name.contains("{") {
                    throw DatasetError("\(source): line \(line): \"{\" inside a placeholder (write {{ for a literal brace)")
                }
                let column: String
                if name.isEmpty {
                    guard positional < columns.count else {
                        throw DatasetError("\(source): line \(line): positional {} number \(positional + 1) but only \(columns.count) column(s) given: \(columns)")
                    }
                    column = columns[positional]
                    positional += 1
                } else {
                    column = name
                }
                if !lit.isEmpty { pieces.append(.text(lit)); lit = "" }
                pieces.append(.column(column))
                i = close + 1
                continue
            }
            if c == "}" {
                if i + 1 < chars.count && chars[i + 1] == "}" { lit.append("}"); i += 2; continue }
                throw DatasetError("\(source): line \(line): single \"}\" (write }} for a literal brace)")
            }
            lit.append(c)
            i += 1
        }
        if !lit.isEmpty { pieces.append(.text(lit)) }
        if positional > 0 && positional < columns.count {
            throw DatasetError("\(source): \(columns.count) columns given for \(positional) positional {} placeholder(s)")
        }
        if responseColumns.isEmpty {
            self.pieces = pieces
            self.split = pieces.count
            return
        }
        guard let s = pieces.firstIndex(where: { if case .column(let n) = $0 { return responseColumns.contains(n) } else { return false } }) else {
            throw DatasetError("\(source): no placeholder for a response column (\(responseColumns.joined(separator: ", "))); the response part starts at the first one")
        }
        self.pieces = pieces
        self.split = s
    }

    /// Reads a template file; one trailing newline (editors add it) is not part of the template,
    /// so the response ends with the answer and EOS follows it directly.
    public static func load(path: String, columns: [String] = [], responseColumns: [String] = ["Complex_CoT", "Response"]) throws -> PromptTemplate {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError.unreadable(path, "template file") }
        guard var text = String(data: data, encoding: .utf8) else { throw DatasetError("\(path): the template file is not UTF-8") }
        if text.hasSuffix("\r\n") { text.removeLast() } else if text.hasSuffix("\n") { text.removeLast() }
        return try PromptTemplate(text, columns: columns, responseColumns: responseColumns, source: path)
    }

    /// Column names the template uses, in order of first use.
    public var placeholders: [String] {
        var seen: [String] = []
        for case .column(let n) in pieces where !seen.contains(n) { seen.append(n) }
        return seen
    }

    /// Checks that every placeholder names a column of `dataset` (all rows), naming the
    /// available columns and the closest one otherwise.
    public func validate(against dataset: Dataset) throws {
        let available = dataset.columns
        for name in placeholders where !available.contains(name) && !available.contains(where: { $0.hasPrefix(name + ".") }) {
            if let r = dataset.rows.first(where: { Self.value(name, $0) == nil }), dataset.rows.contains(where: { Self.value(name, $0) != nil }) {
                throw DatasetError("\(dataset.source): row \(r.index): missing column \"\(name)\" used by \(source)")
            }
            let hint = closest(to: name, in: available).map { "; closest: \"\($0)\"" } ?? ""
            throw DatasetError("\(source): placeholder {\(name)} names a column the dataset \(dataset.source) does not have; available columns: \(available.joined(separator: ", "))\(hint)")
        }
    }

    func fill(_ range: Range<Int>, _ row: Row, source: String) throws -> String {
        var out = ""
        for p in pieces[range] {
            switch p {
            case .text(let t): out += t
            case .column(let n):
                guard let v = Self.value(n, row) else {
                    let hint = closest(to: n, in: row.columns.keys.sorted()).map { "; closest: \"\($0)\"" } ?? ""
                    throw DatasetError("\(source): row \(row.index): no column \"\(n)\" for \(self.source); available columns: \(row.columns.keys.sorted().joined(separator: ", "))\(hint)")
                }
                out += v
            }
        }
        return out
    }

    /// A column's text, or an object column's entries as `key. value` lines in key order.
    static func value(_ name: String, _ row: Row) -> String? {
        if let v = row.columns[name] { return v }
        let entries = row.columns.filter { $0.key.hasPrefix(name + ".") }.sorted { $0.key < $1.key }
        guard !entries.isEmpty else { return nil }
        return entries.map { "\($0.key.dropFirst(name.count + 1)). \($0.value)" }.joined(separator: "\n")
    }

    /// The prompt (untrained) and response (trained) texts of a row; prompt + response is the
    /// whole formatted text.
    public func render(_ row: Row, source: String = "dataset") throws -> (prompt: String, response: String) {
        (try fill(0..<split, row, source: source), try fill(split..<pieces.count, row, source: source))
    }

    /// The generation prompt for a row: the template cut where the response begins.
    public func inferencePrompt(_ row: Row) throws -> String {
        try fill(0..<split, row, source: "inference")
    }

    /// The generation prompt for a bare question: every prompt placeholder except `System`
    /// gets `question` (a template's prompt part normally holds just the question).
    public func inferencePrompt(question: String, system: String = "") -> String {
        var out = ""
        for p in pieces[0..<split] {
            switch p {
            case .text(let t): out += t
            case .column(let n): out += n == "System" ? system : question
            }
        }
        return out
    }
}
