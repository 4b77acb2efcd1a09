import Notebook

/// Tab completion as a pure function of the text before the cursor.
public enum Completion {
    /// Commands the REPL itself handles.
    public static let replCommands = [":next", ":run", ":cells", ":show", ":goto", ":set", ":unset", ":help", ":quit"]

    /// Full replacements for the word being typed at the end of `line` (the word after the last
    /// space, possibly empty), sorted. `extraCommands` are the executor's (":runs", ":plot", …).
    public static func candidates(for line: String, extraCommands: [String] = []) -> [String] {
        let endsInSpace = line.last == " " || line.last == "\t"
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let current = endsInSpace ? "" : (words.last ?? "")
        let before = endsInSpace ? words : Array(words.dropLast())
        let kinds = CellKind.allCases.map(\.rawValue)

        func matching(_ options: [String]) -> [String] {
            Array(Set(options.filter { $0.hasPrefix(current) })).sorted()
        }

        guard let first = before.first else {
            // The first word: a command or a cell kind.
            let commands = replCommands + extraCommands.map { $0.hasPrefix(":") ? $0 : ":" + $0 }
            if current.hasPrefix(":") { return matching(commands) }
            return matching(kinds + (current.isEmpty ? commands : []))
        }

        switch first {
        case ":set", ":unset":
            return matching(qualifiedKeys(current, withEquals: first == ":set"))
        case ":run":
            return before.count == 1 ? matching(["all"]) : []
        case ":help":
            return before.count == 1 ? matching(kinds + (replCommands + extraCommands).map { $0.hasPrefix(":") ? $0 : ":" + $0 }) : []
        case ":plot":
            if before.last == "--metric" { return matching(["loss", "eval_loss", "grad_norm", "lr"]) }
            return current.hasPrefix("-") ? matching(["--metric", "--smooth", "--log-y", "-o"]) : []
        default:
            guard let kind = CellKind(rawValue: first) else { return [] }
            let specs = CellSchema.params(for: kind)
            if let eq = current.firstIndex(of: "=") {
                let key = String(current[..<eq])
                guard let spec = specs.first(where: { $0.key == key }) else { return [] }
                return matching(valueOptions(spec).map { "\(key)=\($0)" })
            }
            let used = Set(before.dropFirst().compactMap { $0.split(separator: "=").first.map(String.init) })
            return matching(specs.map(\.key).filter { !used.contains($0) }.map { $0 + "=" })
        }
    }

    /// `kind.`, `kind.key=` or `kind.key=value` candidates for `:set` / `:unset`.
    static func qualifiedKeys(_ current: String, withEquals: Bool) -> [String] {
        let kinds = CellKind.allCases
        guard let dot = current.firstIndex(of: "."), let kind = CellKind(rawValue: String(current[..<dot])) else {
            return kinds.map { $0.rawValue + "." } + (withEquals ? [] : ["all"])
        }
        let specs = CellSchema.params(for: kind)
        if withEquals, let eq = current.firstIndex(of: "=") {
            let key = String(current[current.index(after: dot)..<eq])
            guard let spec = specs.first(where: { $0.key == key }) else { return [] }
            return valueOptions(spec).map { "\(kind.rawValue).\(key)=\($0)" }
        }
        return specs.map { "\(kind.rawValue).\($0.key)" + (withEquals ? "=" : "") }
    }

    static func valueOptions(_ spec: ParamSpec) -> [String] {
        if spec.type == .bool { return ["true", "false"] }
        if spec.type == .string, !spec.choices.isEmpty { return spec.choices }
        return []
    }

    /// The longest prefix shared by every candidate.
    public static func commonPrefix(_ candidates: [String]) -> String {
        guard var prefix = candidates.first else { return "" }
        for c in candidates.dropFirst() {
            while !c.hasPrefix(prefix) { prefix.removeLast() }
        }
        return prefix
    }
}
