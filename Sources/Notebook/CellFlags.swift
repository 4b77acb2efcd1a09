import Foundation

/// Command-line flags as overrides of cell parameters, so `tunelab train`, `generate`, `score`
/// and `merge` have no defaults, ranges or help of their own: `--max-seq-length 512` sets
/// `format.max_seq_length`, `--lr=1e-4` sets `train.lr`, `--packing` / `--no-packing` set a
/// boolean, `--targets q,v` an array. A key is a bare flag for the first of the command's
/// kinds that has it; every key is also reachable as `--<kind>-<key>` (`--format-seed`).
public struct CellFlags {
    /// The kinds the command builds, the one whose keys win bare flags first.
    public let kinds: [CellKind]
    /// Keys the command sets itself (not flags): e.g. `export.merge` for `tunelab merge`.
    public let fixed: Set<String>

    public init(kinds: [CellKind], fixed: Set<String> = []) {
        self.kinds = kinds
        self.fixed = fixed
    }

    /// Every flag → (kind, key), bare names first.
    public var table: [(flag: String, kind: CellKind, spec: ParamSpec)] {
        var out: [(String, CellKind, ParamSpec)] = []
        var bare = Set<String>()
        for kind in kinds {
            for spec in CellSchema.params(for: kind) where !fixed.contains("\(kind.rawValue).\(spec.key)") {
                let name = Self.flagName(spec.key)
                if !bare.contains(name) { bare.insert(name); out.append(("--" + name, kind, spec)) }
            }
        }
        for kind in kinds {
            for spec in CellSchema.params(for: kind) where !fixed.contains("\(kind.rawValue).\(spec.key)") {
                out.append(("--\(kind.rawValue)-" + Self.flagName(spec.key), kind, spec))
            }
        }
        return out
    }

    static func flagName(_ key: String) -> String { key.replacingOccurrences(of: "_", with: "-") }

    public struct Parsed {
        public var overrides: [CellKind: [String: ParamValue]] = [:]
        /// key → the flag that set it, per kind (for error messages).
        public var flags: [CellKind: [String: String]] = [:]
    }

    /// Parses `--flag value`, `--flag=value`, `--bool-flag`, `--no-bool-flag`. Errors name the
    /// flag and the closest valid one.
    public func parse(_ args: [String]) throws -> Parsed {
        let table = self.table
        var byFlag: [String: (kind: CellKind, spec: ParamSpec)] = [:]
        for t in table { byFlag[t.flag] = (t.kind, t.spec) }
        var out = Parsed()
        var i = 0
        while i < args.count {
            let word = args[i]
            guard word.hasPrefix("--") else {
                throw NotebookError(key: word, message: "unexpected argument (cell parameters are flags such as --lr 1e-4)")
            }
            var name = word, inline: String? = nil
            if let eq = word.firstIndex(of: "=") { name = String(word[..<eq]); inline = String(word[word.index(after: eq)...]) }
            var negated = false
            if byFlag[name] == nil, name.hasPrefix("--no-"), let t = byFlag["--" + name.dropFirst(5)], t.spec.type == .bool {
                negated = true
                name = "--" + name.dropFirst(5)
            }
            guard let (kind, spec) = byFlag[name] else {
                throw NotebookError(key: name, message: "unknown option", suggestion: closest(to: name, in: table.map(\.flag)))
            }
            let value: ParamValue
            if spec.type == .bool && inline == nil {
                value = .bool(!negated)
                i += 1
            } else {
                if negated { throw NotebookError(key: word, message: "--no-… takes no value") }
                let raw: String
                if let inline { raw = inline; i += 1 } else {
                    guard i + 1 < args.count else { throw NotebookError(key: name, message: "needs a value (\(spec.type.name))") }
                    raw = args[i + 1]; i += 2
                }
                let loose = spec.coerceLoose(ParamValue.parseLoose(raw), raw: raw)
                do {
                    value = try spec.check(loose, kind: kind, line: nil, file: nil, origin: "got")
                } catch var e as NotebookError {
                    e.key = "\(name) (\(kind.rawValue).\(spec.key))"
                    throw e
                }
            }
            if out.overrides[kind]?[spec.key] != nil {
                throw NotebookError(key: name, message: "given twice (as \(out.flags[kind]![spec.key]!) and \(name))")
            }
            out.overrides[kind, default: [:]][spec.key] = value
            out.flags[kind, default: [:]][spec.key] = name
        }
        return out
    }

    /// The flags' help, from the schema: for a command's `--help`.
    public var help: String {
        var lines: [String] = []
        var seen = Set<String>()
        for kind in kinds {
            let specs = CellSchema.params(for: kind).filter { !fixed.contains("\(kind.rawValue).\($0.key)") }
            var rows: [String] = []
            for spec in specs {
                let bare = "--" + Self.flagName(spec.key)
                let flag = seen.contains(bare) ? "--\(kind.rawValue)-" + Self.flagName(spec.key) : bare
                seen.insert(bare)
                let choices = spec.choices.isEmpty ? "" : " (\(spec.choices.joined(separator: "|")))"
                rows.append("  \(flag) \(spec.type == .bool ? "" : "<\(Self.placeholder(spec.type))> ")(default \(spec.defaultValue.toml)) \(spec.help)\(choices)")
            }
            if !rows.isEmpty { lines.append("\(kind.rawValue) cell (\(CellSchema.summary(of: kind))):"); lines += rows }
        }
        return lines.joined(separator: "\n")
    }

    static func placeholder(_ t: ParamType) -> String {
        switch t {
        case .string: return "text"
        case .int: return "n"
        case .double: return "x"
        case .bool: return ""
        case .stringArray: return "a,b"
        }
    }
}
