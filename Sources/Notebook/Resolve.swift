/// A cell's complete parameters: every schema key, defaults filled in, types checked (integers
/// widened to floats where a float is expected).
public struct ResolvedParams: Equatable, Sendable {
    public let kind: CellKind
    public let values: [String: ParamValue]
    /// Keys set by the cell or an override rather than left at their default.
    public let explicitKeys: Set<String>
    /// Where values came from, for errors a cell finds later (a combination of keys, a missing
    /// file): the notebook file and each key's line, or the command-line flag that set it.
    public var file: String? = nil
    public var lines: [String: Int] = [:]
    public var flags: [String: String] = [:]

    public init(kind: CellKind, values: [String: ParamValue], explicitKeys: Set<String>) {
        self.kind = kind
        self.values = values
        self.explicitKeys = explicitKeys
    }

    /// An error about `key`, located as precisely as known: "nb.md:12: train.lr: …" in a
    /// notebook, "--lr (train.lr): …" on the command line.
    public func error(_ key: String, _ message: String, suggestion: String? = nil) -> NotebookError {
        let name = "\(kind.rawValue).\(key)"
        if let flag = flags[key] { return NotebookError(key: "\(flag) (\(name))", message: message, suggestion: suggestion) }
        return NotebookError(file: lines[key] != nil ? file : nil, line: lines[key], key: name, message: message, suggestion: suggestion)
    }

    public subscript(key: String) -> ParamValue? { values[key] }

    // Typed reads of schema keys (a key outside the schema reads as empty / zero).
    public func string(_ key: String) -> String { values[key]?.stringValue ?? "" }
    public func int(_ key: String) -> Int { values[key]?.intValue ?? 0 }
    public func double(_ key: String) -> Double { values[key]?.doubleValue ?? 0 }
    public func bool(_ key: String) -> Bool { values[key]?.boolValue ?? false }
    public func strings(_ key: String) -> [String] { values[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }

    /// Canonical text of every value, for the experiment record (`startCell(params:)`).
    public var recorded: [String: String] { values.mapValues(\.text) }
}

extension Cell {
    /// Defaults + the cell's own values + `overrides` (key → value, for this cell's kind).
    /// `flags` names the command-line flag behind an override (key → "--lr"), for errors.
    public func resolve(overrides: [String: ParamValue] = [:], flags: [String: String] = [:]) throws -> ResolvedParams {
        var values: [String: ParamValue] = [:]
        var lines: [String: Int] = [:]
        var explicit = Set<String>()
        let specs = CellSchema.params(for: kind)
        for key in overrides.keys where !specs.contains(where: { $0.key == key }) {
            throw NotebookError(key: "\(kind.rawValue).\(key)", message: "unknown parameter of a \(kind.rawValue) cell",
                                suggestion: closest(to: key, in: specs.map(\.key)))
        }
        for spec in specs {
            if let v = overrides[spec.key] {
                do { values[spec.key] = try spec.check(v, kind: kind, line: nil, file: nil, origin: "set to") } catch var e as NotebookError {
                    if let flag = flags[spec.key] { e.key = "\(flag) (\(e.key ?? spec.key))" }
                    throw e
                }
                explicit.insert(spec.key)
            } else if let p = params.last(where: { $0.key == spec.key }) {
                values[spec.key] = try spec.check(p.value, kind: kind, line: p.line, file: file, origin: "got")
                if p.line > 0 { lines[spec.key] = p.line }
                explicit.insert(spec.key)
            } else {
                values[spec.key] = spec.defaultValue
            }
        }
        for p in params where !specs.contains(where: { $0.key == p.key }) {
            throw NotebookError(file: file, line: p.line, key: "\(kind.rawValue).\(p.key)", message: "unknown parameter of a \(kind.rawValue) cell",
                                suggestion: closest(to: p.key, in: specs.map(\.key)))
        }
        var r = ResolvedParams(kind: kind, values: values, explicitKeys: explicit)
        r.file = file
        r.lines = lines
        r.flags = flags.filter { overrides[$0.key] != nil }
        return r
    }
}

extension ParamSpec {
    /// The value in this parameter's type, or an error naming the line and key.
    func check(_ v: ParamValue, kind: CellKind, line: Int?, file: String?, origin: String) throws -> ParamValue {
        let name = "\(kind.rawValue).\(key)"
        func fail(_ message: String, suggestion: String? = nil) -> NotebookError {
            NotebookError(file: file, line: line, key: name, message: message, suggestion: suggestion)
        }
        func shown(_ v: ParamValue) -> String {
            let t = v.toml
            return t.count > 40 ? String(t.prefix(37)) + "..." : t
        }
        var out = v
        switch type {
        case .string:
            guard case .string = v else { throw fail("expected \(type.name), \(origin) \(v.typeName) \(shown(v))") }
        case .int:
            guard case .int = v else {
                if case .double(let d) = v { throw fail("expected an integer, \(origin) the float \(shown(.double(d)))") }
                throw fail("expected an integer, \(origin) \(v.typeName) \(shown(v))")
            }
        case .double:
            guard let d = v.doubleValue else { throw fail("expected a number, \(origin) \(v.typeName) \(shown(v))") }
            out = .double(d)
        case .bool:
            guard case .bool = v else { throw fail("expected \(type.name), \(origin) \(v.typeName) \(shown(v))") }
        case .stringArray:
            guard case .array(let items) = v, items.allSatisfy({ $0.stringValue != nil }) else {
                throw fail("expected \(type.name) like \(defaultValue.toml), \(origin) \(v.typeName) \(shown(v))")
            }
        }
        // Allowed values.
        if !choices.isEmpty {
            let words: [String] = out.stringValue.map { [$0] } ?? out.arrayValue?.compactMap(\.stringValue) ?? []
            for w in words where !choices.contains(w) {
                throw fail("'\(w)' is not one of \(choices.joined(separator: ", "))", suggestion: closest(to: w, in: choices))
            }
        }
        if let d = out.doubleValue {
            if d.isNaN { throw fail("must be a number, not nan") }
            if let lo = min, minExclusive, d <= lo { throw fail("must be greater than \(Self.number(lo)), \(origin) \(shown(out))") }
            if let lo = min, d < lo { throw fail("must be at least \(Self.number(lo)), \(origin) \(shown(out))") }
            if let hi = max, d > hi { throw fail("must be at most \(Self.number(hi)), \(origin) \(shown(out))") }
        }
        return out
    }

    static func number(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)" }

    /// A value typed loosely (command line, REPL): bare words are strings, and a string where an
    /// array of strings is expected is split on commas (`targets=q,v`).
    func coerceLoose(_ v: ParamValue, raw: String) -> ParamValue {
        switch (type, v) {
        case (.string, .string): return v
        case (.string, _): return .string(raw)
        case (.stringArray, .string(let s)):
            return .array(s.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) })
        default: return v
        }
    }
}

/// A parameter change for one kind of cell: `train.lr=1e-4` (`--set`, `:set`).
public struct Override: Equatable, Sendable {
    public let kind: CellKind
    public let key: String
    public let value: ParamValue

    public init(kind: CellKind, key: String, value: ParamValue) {
        self.kind = kind
        self.key = key
        self.value = value
    }

    /// Parses `kind.key=value`. The value is TOML; anything that does not parse as a TOML value
    /// (a bare word, a path, a sentence) is taken as a string. Key, type, choices and range are
    /// checked against the schema.
    public init(parsing text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let eq = t.firstIndex(of: "=") else {
            throw NotebookError(key: t, message: "expected kind.key=value, e.g. train.lr=1e-4")
        }
        let lhs = t[..<eq].trimmingCharacters(in: .whitespaces)
        let rhs = t[t.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        let parts = lhs.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            throw NotebookError(key: lhs, message: "expected kind.key=value, e.g. train.lr=1e-4 (the kind is one of \(CellKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let kind = CellKind(rawValue: parts[0]) else {
            throw NotebookError(key: lhs, message: "unknown cell kind '\(parts[0])'", suggestion: closest(to: parts[0], in: CellKind.allCases.map(\.rawValue)).map { "\($0).\(parts[1])" })
        }
        let keys = CellSchema.params(for: kind).map(\.key)
        guard let spec = CellSchema.spec(kind, parts[1]) else {
            throw NotebookError(key: lhs, message: "unknown parameter of a \(kind.rawValue) cell", suggestion: closest(to: parts[1], in: keys).map { "\(kind.rawValue).\($0)" })
        }
        let value = spec.coerceLoose(ParamValue.parseLoose(rhs), raw: rhs)
        self.kind = kind
        self.key = spec.key
        self.value = try spec.check(value, kind: kind, line: nil, file: nil, origin: "set to")
    }

    /// `kind.key=value` with the value as TOML (parses back to an equal override).
    public var text: String { "\(kind.rawValue).\(key)=\(value.toml)" }
}

extension ParamValue {
    /// A whole string as one TOML value, or, if it is not one, the string itself.
    public static func parseLoose(_ text: String) -> ParamValue {
        let t = text.trimmingCharacters(in: .whitespaces)
        var s = TOMLScanner(t)
        if let v = try? s.parseValue() {
            s.skipSpaces()
            if s.atEnd { return v }
        }
        return .string(t)
    }
}

/// A cell typed at the REPL prompt: `train max_steps=20 lr=1e-4 scheduler=cosine`.
/// Values are TOML, except that a bare word (`cosine`, `runs/a`, `hf:org/name`) is a string.
public func parseTypedCell(_ line: String, index: Int) throws -> Cell {
    let trimmed = line.trimmingCharacters(in: .whitespaces)
    let word = String(trimmed.prefix { $0 != " " && $0 != "\t" })
    guard let kind = CellKind(rawValue: word) else {
        throw NotebookError(key: word, message: "unknown cell kind", suggestion: closest(to: word, in: CellKind.allCases.map(\.rawValue)))
    }
    var s = TOMLScanner(String(trimmed.dropFirst(word.count)), firstLine: 0)
    let specs = CellSchema.params(for: kind)
    var params: [CellParam] = []
    while true {
        s.skipSpaces()
        if s.atEnd { break }
        let key: String
        do { key = try s.parseKey() } catch var e as NotebookError {
            e.line = nil
            e.message = "expected key=value pairs after '\(kind.rawValue)' (\(e.message))"
            throw e
        }
        let name = "\(kind.rawValue).\(key)"
        s.skipSpaces()
        guard s.peek == 0x3D else {
            throw NotebookError(key: name, message: "expected '=' after '\(key)' (key=value; a value with spaces needs quotes: key=\"a b\")")
        }
        guard let spec = specs.first(where: { $0.key == key }) else {
            throw NotebookError(key: name, message: "unknown parameter of a \(kind.rawValue) cell", suggestion: closest(to: key, in: specs.map(\.key)))
        }
        if params.contains(where: { $0.key == key }) { throw NotebookError(key: name, message: "set twice") }
        s.pos += 1
        s.skipSpaces()
        var value: ParamValue
        if let c = s.peek, c == 0x22 || c == 0x27 || c == 0x5B || c == 0x7B {
            do { value = try s.parseValue() } catch var e as NotebookError {
                e.line = nil
                e.key = name
                throw e
            }
            if let c = s.peek, c != 0x20, c != 0x09 {
                throw NotebookError(key: name, message: "expected a space after the value")
            }
        } else {
            let start = s.pos
            while let c = s.peek, c != 0x20, c != 0x09 { s.pos += 1 }
            let raw = String(decoding: s.bytes[start..<s.pos], as: UTF8.self)
            if raw.isEmpty { throw NotebookError(key: name, message: "missing value after '='") }
            value = spec.coerceLoose(TOMLScanner.scalar(raw) ?? .string(raw), raw: raw)
        }
        value = try spec.check(value, kind: kind, line: nil, file: nil, origin: "got")
        params.append(CellParam(key: key, value: value, line: 0))
    }
    return Cell(index: index, kind: kind, params: params, source: trimmed)
}
