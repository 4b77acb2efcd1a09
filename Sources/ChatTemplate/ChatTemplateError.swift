/// Error from parsing or rendering a chat template. `line`/`column` are 1-based positions in the
/// template source (column counts Unicode scalars).
public struct ChatTemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The template source is not valid (in the supported Jinja subset).
        case syntax
        /// Rendering failed (undefined attribute access, type error, ...).
        case render
        /// The template called `raise_exception(message)`; `message` is its argument verbatim.
        case raised
    }

    public let kind: Kind
    public let line: Int
    public let column: Int
    public let message: String

    public init(kind: Kind, line: Int, column: Int, message: String) {
        self.kind = kind
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        switch kind {
        case .syntax: return "chat template syntax error at \(line):\(column): \(message)"
        case .render: return "chat template render error at \(line):\(column): \(message)"
        case .raised: return "chat template raised an exception at \(line):\(column): \(message)"
        }
    }
}

/// A position in the template source.
struct SourcePos: Equatable {
    var line: Int
    var column: Int
    static let unknown = SourcePos(line: 0, column: 0)
}

/// Errors thrown inside the engine before a position is attached.
struct EngineError: Error {
    var kind: ChatTemplateError.Kind
    var message: String
    var pos: SourcePos?

    static func render(_ message: String, _ pos: SourcePos? = nil) -> EngineError {
        EngineError(kind: .render, message: message, pos: pos)
    }
    static func syntax(_ message: String, _ pos: SourcePos) -> EngineError {
        EngineError(kind: .syntax, message: message, pos: pos)
    }

    func located(_ pos: SourcePos) -> EngineError {
        var e = self
        if e.pos == nil { e.pos = pos }
        return e
    }

    var publicError: ChatTemplateError {
        let p = pos ?? .unknown
        return ChatTemplateError(kind: kind, line: p.line, column: p.column, message: message)
    }
}
