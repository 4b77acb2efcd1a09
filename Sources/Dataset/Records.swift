import Foundation

/// One training record: its string columns, by name. Loaders add the canonical columns
/// `Question`, `Complex_CoT`, `Response` (and `System` when present) so one template fits
/// every record format; the record's own scalar columns are kept too.
public struct Row: Sendable, Equatable {
    /// Position in the source file (0-based row index), for error messages.
    public var index: Int
    public var columns: [String: String]
    public init(index: Int, columns: [String: String]) {
        self.index = index
        self.columns = columns
    }
    public subscript(_ name: String) -> String? { columns[name] }
}

/// The record layouts a notebook or flag can name (`format.format`); `RecordFormat` is the
/// parsed form (a mapping carries its columns).
public enum RecordLayout: String, CaseIterable, Sendable {
    case auto
    case medicalO1 = "medical-o1"
    case alpaca
    case sharegpt
    case questionThinkAnswer = "question-think-answer"
    case mapping

    /// The format this layout names; `columns` is read only by `mapping`.
    public func format(columns: String) throws -> RecordFormat {
        switch self {
        case .auto: return .auto
        case .medicalO1: return .medicalO1
        case .alpaca: return .alpaca
        case .sharegpt: return .shareGPT
        case .questionThinkAnswer: return .questionThinkAnswer
        case .mapping:
            guard !columns.isEmpty else {
                throw DatasetError("format = \"mapping\" needs columns, e.g. columns = \"question=instruction,cot=think,answer=answer\"")
            }
            return try RecordFormat.mapping(parsing: columns)
        }
    }
}

/// Which tokens carry loss.
public enum TrainOn: String, CaseIterable, Sendable {
    /// The response (reasoning and answer) and the EOS after it.
    case response
    /// Every token of the example.
    case all
}

/// How records map to the canonical columns.
public enum RecordFormat: Sendable, Equatable {
    /// Chosen from the first record's keys.
    case auto
    /// Question / Complex_CoT / Response (HuatuoGPT-o1, medical-o1-reasoning-SFT).
    case medicalO1
    /// instruction / input / output / system: Question = instruction (+ blank line + input), no reasoning.
    case alpaca
    /// `conversations` of {from, value}: the first human turn, the gpt turn after it, a system turn.
    /// Later turns are ignored (single-exchange SFT).
    case shareGPT
    /// question / think / answer.
    case questionThinkAnswer
    /// Canonical role → source column, roles `question`, `cot`, `answer`, `system`
    /// (`cot` and `system` optional).
    case mapping([String: String])

    /// Parses `question=Question, cot=Complex_CoT, answer=Response`.
    public static func mapping(parsing spec: String) throws -> RecordFormat {
        var m: [String: String] = [:]
        let roles = ["question", "cot", "answer", "system"]
        for part in spec.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
                throw DatasetError("column mapping \"\(spec)\": \"\(part.trimmingCharacters(in: .whitespaces))\" is not role=column")
            }
            guard roles.contains(kv[0]) else {
                throw DatasetError("column mapping \"\(spec)\": unknown role \"\(kv[0])\" (roles: \(roles.joined(separator: ", ")))")
            }
            m[kv[0]] = kv[1]
        }
        for r in ["question", "answer"] where m[r] == nil {
            throw DatasetError("column mapping \"\(spec)\": no column for \"\(r)\"")
        }
        return .mapping(m)
    }
}

/// Rows loaded from a JSON array or JSONL file.
public struct Dataset: Sendable {
    public var rows: [Row]
    /// Source path (or name), for error messages.
    public let source: String

    public init(rows: [Row], source: String) {
        self.rows = rows
        self.source = source
    }

    /// Loads `path` (a JSON array, or one JSON object per line), applies `format` and then
    /// `slice` (`train[0:500]`, `[:100]`, `[-20:]`).
    public static func load(path: String, format: RecordFormat = .auto, slice: String? = nil) throws -> Dataset {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError.unreadable(path, "data file")
        }
        var d = try parse(data, source: path, format: format)
        if let slice { d = try d.sliced(slice) }
        return d
    }

    /// Parses file contents; `source` names them in errors.
    public static func parse(_ data: Data, source: String, format: RecordFormat = .auto) throws -> Dataset {
        let objects = try readObjects(data, source: source)
        guard let first = objects.first else { throw DatasetError("\(source): the dataset is empty (no records)") }
        let fmt = format == .auto ? detect(first.object, source: source, at: first.location) : format
        guard let fmt else {
            throw DatasetError("\(source): \(first.location): cannot tell the record format from keys \(first.object.keys.sorted()); give a column mapping such as question=…, cot=…, answer=…")
        }
        var rows: [Row] = []
        rows.reserveCapacity(objects.count)
        for (i, o) in objects.enumerated() {
            rows.append(try makeRow(o.object, index: i, format: fmt, place: "\(source): \(o.location)"))
        }
        return Dataset(rows: rows, source: source)
    }

    /// Column names every row has, sorted.
    public var columns: [String] {
        guard var common = rows.first.map({ Set($0.columns.keys) }) else { return [] }
        for r in rows.dropFirst() { common.formIntersection(r.columns.keys) }
        return common.sorted()
    }

    // MARK: - Reading

    struct Located { var object: [String: Any]; var location: String }

    static func readObjects(_ data: Data, source: String) throws -> [Located] {
        // A JSON array starts with '[' (after whitespace / BOM); anything else is JSONL.
        let firstByte = data.first { !(" \t\r\n".utf8.contains($0) || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF) }
        if firstByte == UInt8(ascii: "[") {
            let top: Any
            do { top = try JSONSerialization.jsonObject(with: data) } catch {
                throw DatasetError("\(source): invalid JSON: \(describe(error, data: data))")
            }
            guard let array = top as? [Any] else { throw DatasetError("\(source): top level is not a JSON array") }
            return try array.enumerated().map { i, v in
                guard let o = v as? [String: Any] else {
                    throw DatasetError("\(source): row \(i): not a JSON object (\(kind(v)))")
                }
                return Located(object: o, location: "row \(i)")
            }
        }
        var out: [Located] = []
        var lineNo = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNo += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            let v: Any
            do { v = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) } catch {
                throw DatasetError("\(source): line \(lineNo): invalid JSON: \(describe(error, data: Data(line)))")
            }
            guard let o = v as? [String: Any] else {
                throw DatasetError("\(source): line \(lineNo) (row \(out.count)): not a JSON object (\(kind(v)))")
            }
            out.append(Located(object: o, location: "line \(lineNo) (row \(out.count))"))
        }
        return out
    }

    static func kind(_ v: Any) -> String {
        switch v {
        case is [Any]: return "an array"
        case is String: return "a string"
        case is NSNull: return "null"
        case is NSNumber: return "a number"
        default: return "\(type(of: v))"
        }
    }

    /// Foundation's message, plus the line when it gives a character index.
    static func describe(_ error: Error, data: Data) -> String {
        let ns = error as NSError
        let text = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
        if let idx = ns.userInfo["NSJSONSerializationErrorIndex"] as? Int, idx <= data.count {
            let line = data.prefix(idx).reduce(1) { $0 + ($1 == 10 ? 1 : 0) }
            return "\(text) (line \(line))"
        }
        return text
    }

    // MARK: - Record formats

    static func detect(_ o: [String: Any], source: String, at: String) -> RecordFormat? {
        if o["conversations"] != nil { return .shareGPT }
        if o["Complex_CoT"] != nil || o["Response"] != nil { return .medicalO1 }
        if o["think"] != nil && o["question"] != nil { return .questionThinkAnswer }
        if o["instruction"] != nil || o["output"] != nil { return .alpaca }
        return nil
    }

    static func scalar(_ v: Any?) -> String? {
        switch v {
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        default: return nil
        }
    }

    static func makeRow(_ o: [String: Any], index: Int, format: RecordFormat, place: String) throws -> Row {
        var cols: [String: String] = [:]
        for (k, v) in o {
            if let s = scalar(v) { cols[k] = s }
            // A flat object of scalars (MedQA's `options`: {"A": …, "B": …}) as `options.A`, … columns.
            if let sub = v as? [String: Any] { for (sk, sv) in sub { if let s = scalar(sv) { cols["\(k).\(sk)"] = s } } }
        }
        func need(_ key: String, _ role: String) throws -> String {
            guard let v = o[key], !(v is NSNull) else {
                throw DatasetError("\(place): missing key \"\(key)\" (the \(role) field); keys: \(o.keys.sorted().joined(separator: ", "))")
            }
            guard let s = scalar(v) else { throw DatasetError("\(place): key \"\(key)\" (the \(role) field) is \(kind(v)), not a string") }
            return s
        }
        func optional(_ key: String, _ role: String) throws -> String? {
            guard let v = o[key], !(v is NSNull) else { return nil }
            guard let s = scalar(v) else { throw DatasetError("\(place): key \"\(key)\" (the \(role) field) is \(kind(v)), not a string") }
            return s
        }
        switch format {
        case .auto:
            throw DatasetError("\(place): record format not resolved")
        case .medicalO1:
            cols["Question"] = try need("Question", "question")
            cols["Complex_CoT"] = try need("Complex_CoT", "reasoning")
            cols["Response"] = try need("Response", "response")
        case .questionThinkAnswer:
            cols["Question"] = try need("question", "question")
            cols["Complex_CoT"] = try need("think", "reasoning")
            cols["Response"] = try need("answer", "response")
        case .alpaca:
            let instruction = try need("instruction", "instruction")
            let input = try optional("input", "input") ?? ""
            cols["Question"] = input.isEmpty ? instruction : instruction + "\n\n" + input
            cols["Complex_CoT"] = ""
            cols["Response"] = try need("output", "response")
            if let s = try optional("system", "system") { cols["System"] = s }
        case .shareGPT:
            guard let conv = o["conversations"] as? [Any] else {
                throw DatasetError("\(place): key \"conversations\" is \(o["conversations"].map(kind) ?? "missing"), not an array of turns")
            }
            var question: String?, answer: String?
            for (t, turnAny) in conv.enumerated() {
                guard let turn = turnAny as? [String: Any], let from = turn["from"] as? String, let value = turn["value"] as? String else {
                    throw DatasetError("\(place): conversations[\(t)]: not an object with string \"from\" and \"value\"")
                }
                switch from {
                case "system" where question == nil: cols["System"] = value
                case "human" where question == nil: question = value
                case "gpt" where question != nil && answer == nil: answer = value
                case "human", "gpt", "system": break
                default: throw DatasetError("\(place): conversations[\(t)]: unknown role \"\(from)\" (expected human, gpt, system)")
                }
            }
            guard let question else { throw DatasetError("\(place): conversations has no \"human\" turn (the question field)") }
            guard let answer else { throw DatasetError("\(place): conversations has no \"gpt\" turn after the first human turn (the response field)") }
            cols["Question"] = question
            cols["Complex_CoT"] = ""
            cols["Response"] = answer
        case .mapping(let m):
            cols["Question"] = try need(m["question"] ?? "question", "question")
            cols["Response"] = try need(m["answer"] ?? "answer", "response")
            cols["Complex_CoT"] = try m["cot"].map { try need($0, "reasoning") } ?? ""
            if let s = m["system"] { cols["System"] = try need(s, "system") }
        }
        return Row(index: index, columns: cols)
    }
}
