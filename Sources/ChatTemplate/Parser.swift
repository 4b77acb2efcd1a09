/// Recursive-descent parser following Jinja2's grammar (jinja2/parser.py) for the supported subset.
struct Parser {
    private let tokens: [Token]
    private var i = 0
    /// Open blocks, innermost last: (tag, end tags it accepts, where it was opened).
    private var blockStack: [(String, [String], SourcePos)] = []
    private var loopDepth = 0
    /// Nesting limits keep deeply nested (hostile) templates from exhausting the stack; real chat
    /// templates nest a handful of levels.
    static let maxExpressionDepth = 150  // about 50 levels of parentheses
    static let maxBlockDepth = 48
    private var exprDepth = 0

    private mutating func enterExpression() throws {
        exprDepth += 1
        if exprDepth > Parser.maxExpressionDepth { throw fail("expression nested too deeply") }
    }

    init(_ tokens: [Token]) {
        self.tokens = tokens
    }

    private var current: Token { tokens[i] }
    private func peek(_ k: Int = 1) -> Token { tokens[min(i + k, tokens.count - 1)] }
    private mutating func advance() { if i < tokens.count - 1 { i += 1 } }

    private static func describe(_ k: TokenKind) -> String {
        switch k {
        case .data: return "template data"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case .name(let n): return n
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        case .op(let o): return o
        case .eof: return "end of template"
        }
    }

    private func fail(_ message: String, _ pos: SourcePos? = nil) -> EngineError {
        EngineError.syntax(message, pos ?? current.pos)
    }

    private func isName(_ n: String, _ t: Token? = nil) -> Bool {
        if case .name(let x) = (t ?? current).kind { return x == n }
        return false
    }
    private func isOp(_ o: String, _ t: Token? = nil) -> Bool {
        if case .op(let x) = (t ?? current).kind { return x == o }
        return false
    }

    private mutating func expectOp(_ o: String) throws {
        guard isOp(o) else { throw fail("expected token '\(o)', got '\(Parser.describe(current.kind))'") }
        advance()
    }
    private mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else {
            throw fail("expected token 'name', got '\(Parser.describe(current.kind))'")
        }
        advance()
        return n
    }
    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else {
            throw fail("expected token 'end of statement block', got '\(Parser.describe(current.kind))'")
        }
        advance()
    }

    // MARK: statements

    mutating func parseTemplate() throws -> [Node] {
        let (body, _) = try subparse([])
        return body
    }

    /// Parses until a block tag named in `ends`; leaves the parser on that tag's name token.
    private mutating func subparse(_ ends: [String]) throws -> ([Node], String?) {
        var body: [Node] = []
        while true {
            switch current.kind {
            case .data(let s):
                body.append(.text(s))
                advance()
            case .variableBegin:
                advance()
                let e = try parseTuple()
                guard current.kind == .variableEnd else {
                    throw fail("expected token 'end of print statement', got '\(Parser.describe(current.kind))'")
                }
                advance()
                body.append(.output(e))
            case .blockBegin:
                advance()
                guard case .name(let tag) = current.kind else { throw fail("tag name expected") }
                if ends.contains(tag) { return (body, tag) }
                body.append(try parseStatement(tag))
            case .eof:
                if let (tag, expected, opened) = blockStack.last {
                    throw fail(
                        "Unexpected end of template. Jinja was looking for the following tags: "
                            + expected.map { "'\($0)'" }.joined(separator: " or ")
                            + ". The innermost block that needs to be closed is '\(tag)' (opened at \(opened.line):\(opened.column)).")
                }
                return (body, nil)
            default:
                throw fail("unexpected '\(Parser.describe(current.kind))'")
            }
        }
    }

    private mutating func parseBlock(_ tag: String, _ ends: [String], _ pos: SourcePos) throws -> ([Node], String) {
        if blockStack.count >= Parser.maxBlockDepth { throw fail("blocks nested too deeply", pos) }
        blockStack.append((tag, ends, pos))
        defer { blockStack.removeLast() }
        let (body, end) = try subparse(ends)
        advance()  // the end tag's name
        return (body, end ?? "")
    }

    private mutating func parseStatement(_ tag: String) throws -> Node {
        let pos = current.pos
        advance()
        switch tag {
        case "if": return try parseIf(pos)
        case "for": return try parseFor(pos)
        case "set": return try parseSet(pos)
        case "macro": return try parseMacro(pos)
        case "filter":
            let filters = try parseFilterChain(requireFirst: true)
            try expectBlockEnd()
            let (body, _) = try parseBlock("filter", ["endfilter"], pos)
            try expectBlockEnd()
            return .filterBlock(filters, body)
        case "with":
            var assigns: [(Target, Expr)] = []
            while current.kind != .blockEnd {
                if !assigns.isEmpty { try expectOp(",") }
                let target = try parseAssignTarget(withNamespace: false, extraEnd: [])
                try expectOp("=")
                assigns.append((target, try parseExpression()))
            }
            try expectBlockEnd()
            let (body, _) = try parseBlock("with", ["endwith"], pos)
            try expectBlockEnd()
            return .with(assigns, body, pos)
        case "generation":
            // transformers' AssistantTracker tag: renders its body unchanged.
            try expectBlockEnd()
            let (body, _) = try parseBlock("generation", ["endgeneration"], pos)
            try expectBlockEnd()
            return .ifBlock([(Expr(.literal(.bool(true)), pos), body)], [])
        case "break", "continue":
            guard loopDepth > 0 else { throw fail("'\(tag)' outside of a loop", pos) }
            try expectBlockEnd()
            return tag == "break" ? .breakLoop : .continueLoop
        default:
            var message = "Encountered unknown tag '\(tag)'."
            if let (open, expected, _) = blockStack.last {
                message +=
                    " Jinja was looking for the following tags: "
                    + expected.map { "'\($0)'" }.joined(separator: " or ")
                    + ". The innermost block that needs to be closed is '\(open)'."
            }
            throw fail(message, pos)
        }
    }

    private mutating func parseIf(_ pos: SourcePos) throws -> Node {
        var branches: [(Expr, [Node])] = []
        var cond = try parseTuple(withCondexpr: false)
        try expectBlockEnd()
        while true {
            let (body, end) = try parseBlock("if", ["elif", "else", "endif"], pos)
            branches.append((cond, body))
            switch end {
            case "elif":
                cond = try parseTuple(withCondexpr: false)
                try expectBlockEnd()
            case "else":
                try expectBlockEnd()
                let (elseBody, _) = try parseBlock("if", ["endif"], pos)
                try expectBlockEnd()
                return .ifBlock(branches, elseBody)
            default:
                try expectBlockEnd()
                return .ifBlock(branches, [])
            }
        }
    }

    private mutating func parseFor(_ pos: SourcePos) throws -> Node {
        let target = try parseAssignTarget(withNamespace: false, extraEnd: ["in"])
        guard isName("in") else { throw fail("expected token 'in', got '\(Parser.describe(current.kind))'") }
        advance()
        let iter = try parseTuple(withCondexpr: false, extraEnd: ["recursive"])
        var condition: Expr?
        if isName("if") {
            advance()
            condition = try parseExpression()
        }
        if isName("recursive") { throw fail("recursive loops are not supported") }
        try expectBlockEnd()
        loopDepth += 1
        let (body, end) = try parseBlock("for", ["endfor", "else"], pos)
        loopDepth -= 1
        var elseBody: [Node] = []
        if end == "else" {
            try expectBlockEnd()
            (elseBody, _) = try parseBlock("for", ["endfor"], pos)
        }
        try expectBlockEnd()
        return .forLoop(ForLoop(target: target, iter: iter, condition: condition, body: body, elseBody: elseBody, pos: pos))
    }

    private mutating func parseSet(_ pos: SourcePos) throws -> Node {
        let target = try parseAssignTarget(withNamespace: true, extraEnd: [])
        if isOp("=") {
            advance()
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(target, value, pos)
        }
        let filters = try parseFilterChain(requireFirst: false)
        try expectBlockEnd()
        let (body, _) = try parseBlock("set", ["endset"], pos)
        try expectBlockEnd()
        return .setBlock(target, body, filters, pos)
    }

    private mutating func parseMacro(_ pos: SourcePos) throws -> Node {
        let name = try expectName()
        try expectOp("(")
        var params: [(String, Expr?)] = []
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let p = try expectName()
            var def: Expr?
            if isOp("=") {
                advance()
                def = try parseExpression()
            } else if params.contains(where: { $0.1 != nil }) {
                throw fail("non-default argument follows default argument")
            }
            params.append((p, def))
        }
        try expectOp(")")
        try expectBlockEnd()
        let saved = loopDepth
        loopDepth = 0
        let (body, _) = try parseBlock("macro", ["endmacro"], pos)
        loopDepth = saved
        try expectBlockEnd()
        return .macro(MacroDef(name: name, params: params, body: body, pos: pos))
    }

    private mutating func parseFilterChain(requireFirst: Bool) throws -> [FilterCall] {
        var filters: [FilterCall] = []
        if requireFirst {
            filters.append(try parseFilterCall())
        }
        while isOp("|") {
            advance()
            filters.append(try parseFilterCall())
        }
        return filters
    }

    private mutating func parseFilterCall() throws -> FilterCall {
        let pos = current.pos
        var name = try expectName()
        while isOp(".") {
            advance()
            name += "." + (try expectName())
        }
        guard Filters.names.contains(name) else { throw fail("No filter named '\(name)'.", pos) }
        let args = isOp("(") ? try parseCallArgs() : Args()
        return FilterCall(name: name, args: args, pos: pos)
    }

    private mutating func parseAssignTarget(withNamespace: Bool, extraEnd: [String]) throws -> Target {
        if withNamespace, case .name(let ns) = current.kind, isOp(".", peek()) {
            advance()
            advance()
            let attr = try expectName()
            return .namespaceAttr(ns, attr)
        }
        let pos = current.pos
        let e = try parseTuple(simplified: true, extraEnd: extraEnd)
        return try target(from: e, pos)
    }

    private func target(from e: Expr, _ pos: SourcePos) throws -> Target {
        switch e.kind {
        case .name(let n):
            if ["true", "false", "none", "True", "False", "None"].contains(n) { throw fail("can't assign to '\(n)'", pos) }
            return .name(n)
        case .tuple(let items), .list(let items):
            return .tuple(try items.map { try target(from: $0, $0.pos) })
        default:
            throw fail("can't assign to this expression", pos)
        }
    }

    // MARK: expressions

    private func isTupleEnd(_ extraEnd: [String]) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd: return true
        case .op(")"): return true
        case .name(let n): return extraEnd.contains(n)
        default: return false
        }
    }

    private mutating func parseTuple(
        simplified: Bool = false, withCondexpr: Bool = true, extraEnd: [String] = [], explicitParentheses: Bool = false
    ) throws -> Expr {
        let pos = current.pos
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            if simplified {
                items.append(try parsePrimary())
            } else {
                items.append(try parseExpression(withCondexpr: withCondexpr))
            }
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let first = items.first { return first }
            if !explicitParentheses {
                throw fail("Expected an expression, got '\(Parser.describe(current.kind))'")
            }
        }
        return Expr(.tuple(items), pos)
    }

    private mutating func parseExpression(withCondexpr: Bool = true) throws -> Expr {
        withCondexpr ? try parseCondexpr() : try parseOr()
    }

    private mutating func parseCondexpr() throws -> Expr {
        try enterExpression()
        defer { exprDepth -= 1 }
        var e = try parseOr()
        while isName("if") {
            let pos = current.pos
            advance()
            let test = try parseOr()
            var otherwise: Expr?
            if isName("else") {
                advance()
                otherwise = try parseCondexpr()
            }
            e = Expr(.cond(test: test, then: e, otherwise: otherwise), pos)
        }
        return e
    }

    private mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        while isName("or") {
            let pos = current.pos
            advance()
            left = Expr(.or(left, try parseAnd()), pos)
        }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        while isName("and") {
            let pos = current.pos
            advance()
            left = Expr(.and(left, try parseNot()), pos)
        }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        try enterExpression()
        defer { exprDepth -= 1 }
        if isName("not") {
            let pos = current.pos
            advance()
            return Expr(.not(try parseNot()), pos)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let pos = current.pos
        let left = try parseMath1()
        var ops: [(String, Expr)] = []
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                advance()
                ops.append((o, try parseMath1()))
            } else if isName("in") {
                advance()
                ops.append(("in", try parseMath1()))
            } else if isName("not") && isName("in", peek()) {
                advance()
                advance()
                ops.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : Expr(.compare(left, ops), pos)
    }

    private mutating func parseMath1() throws -> Expr {
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            let pos = current.pos
            advance()
            left = Expr(.binary(o, left, try parseConcat()), pos)
        }
        return left
    }

    private mutating func parseConcat() throws -> Expr {
        var left = try parseMath2()
        while isOp("~") {
            let pos = current.pos
            advance()
            left = Expr(.binary("~", left, try parseMath2()), pos)
        }
        return left
    }

    private mutating func parseMath2() throws -> Expr {
        var left = try parsePow()
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            let pos = current.pos
            advance()
            left = Expr(.binary(o, left, try parsePow()), pos)
        }
        return left
    }

    private mutating func parsePow() throws -> Expr {
        var left = try parseUnary()
        while isOp("**") {
            let pos = current.pos
            advance()
            left = Expr(.binary("**", left, try parseUnary()), pos)
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> Expr {
        try enterExpression()
        defer { exprDepth -= 1 }
        let pos = current.pos
        var node: Expr
        if isOp("-") {
            advance()
            node = Expr(.neg(try parseUnary(withFilter: false)), pos)
        } else if isOp("+") {
            advance()
            node = Expr(.pos(try parseUnary(withFilter: false)), pos)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpr(node) }
        return node
    }

    private mutating func parsePrimary() throws -> Expr {
        let pos = current.pos
        switch current.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return Expr(.literal(.bool(true)), pos)
            case "false", "False": return Expr(.literal(.bool(false)), pos)
            case "none", "None": return Expr(.literal(.none), pos)
            default: return Expr(.name(n), pos)
            }
        case .string(var s):
            advance()
            while case .string(let more) = current.kind {
                s += more
                advance()
            }
            return Expr(.literal(.string(s)), pos)
        case .integer(let v):
            advance()
            return Expr(.literal(.int(v)), pos)
        case .float(let v):
            advance()
            return Expr(.literal(.double(v)), pos)
        case .op("("):
            advance()
            let e = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return e
        case .op("["):
            advance()
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return Expr(.list(items), pos)
        case .op("{"):
            advance()
            var items: [(Expr, Expr)] = []
            while !isOp("}") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let k = try parseExpression()
                try expectOp(":")
                items.append((k, try parseExpression()))
            }
            try expectOp("}")
            return Expr(.dict(items), pos)
        default:
            throw fail("unexpected '\(Parser.describe(current.kind))'")
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws -> Expr {
        var node = start
        while true {
            let pos = current.pos
            if isOp(".") {
                advance()
                switch current.kind {
                case .name(let n):
                    advance()
                    node = Expr(.getattr(node, n), pos)
                case .integer(let v):
                    advance()
                    node = Expr(.getitem(node, Expr(.literal(.int(v)), pos)), pos)
                default:
                    throw fail("expected name or number")
                }
            } else if isOp("[") {
                advance()
                var subs: [Expr] = []
                while !isOp("]") {
                    if !subs.isEmpty { try expectOp(",") }
                    subs.append(try parseSubscribed(node))
                }
                try expectOp("]")
                guard !subs.isEmpty else { throw fail("expected subscript expression", pos) }
                if subs.count == 1 {
                    if case .slice = subs[0].kind { node = subs[0] } else { node = Expr(.getitem(node, subs[0]), pos) }
                } else {
                    node = Expr(.getitem(node, Expr(.tuple(subs), pos)), pos)
                }
            } else if isOp("(") {
                node = Expr(.call(node, try parseCallArgs()), node.pos)
            } else {
                return node
            }
        }
    }

    /// One subscript: an index expression or a `start:stop:step` slice of `target`.
    private mutating func parseSubscribed(_ target: Expr) throws -> Expr {
        let pos = current.pos
        var parts: [Expr?] = []
        if isOp(":") {
            advance()
            parts = [nil]
        } else {
            let e = try parseExpression()
            if !isOp(":") { return e }
            advance()
            parts = [e]
        }
        if isOp(":") {
            parts.append(nil)
        } else if !isOp("]") && !isOp(",") {
            parts.append(try parseExpression())
        } else {
            parts.append(nil)
        }
        if isOp(":") {
            advance()
            if !isOp("]") && !isOp(",") { parts.append(try parseExpression()) } else { parts.append(nil) }
        } else {
            parts.append(nil)
        }
        return Expr(.slice(target, parts[0], parts[1], parts[2]), pos)
    }

    private mutating func parseCallArgs() throws -> Args {
        try expectOp("(")
        var args = Args()
        while !isOp(")") {
            if !args.positional.isEmpty || !args.keyword.isEmpty {
                try expectOp(",")
                if isOp(")") { break }
            }
            if isOp("*") || isOp("**") { throw fail("*args / **kwargs in calls are not supported") }
            if case .name(let key) = current.kind, isOp("=", peek()) {
                advance()
                advance()
                args.keyword.append((key, try parseExpression()))
            } else {
                if !args.keyword.isEmpty { throw fail("invalid syntax for function call expression") }
                args.positional.append(try parseExpression())
            }
        }
        try expectOp(")")
        return args
    }

    private mutating func parseFilterExpr(_ start: Expr) throws -> Expr {
        var node = start
        while true {
            if isOp("|") {
                advance()
                let f = try parseFilterCall()
                node = Expr(.filter(node, f.name, f.args), f.pos)
            } else if isName("is") {
                node = try parseTest(node)
            } else if isOp("(") {
                node = Expr(.call(node, try parseCallArgs()), node.pos)
            } else {
                return node
            }
        }
    }

    private mutating func parseTest(_ node: Expr) throws -> Expr {
        let pos = current.pos
        advance()  // is
        var negated = false
        if isName("not") {
            advance()
            negated = true
        }
        var name = try expectName()
        while isOp(".") {
            advance()
            name += "." + (try expectName())
        }
        guard Predicates.names.contains(name) else { throw fail("No test named '\(name)'.", pos) }
        var args = Args()
        switch current.kind {
        case .op("("):
            args = try parseCallArgs()
        case .name, .string, .integer, .float, .op("["), .op("{"):
            if isName("else") || isName("or") || isName("and") { break }
            if isName("is") { throw fail("You cannot chain multiple tests with is") }
            args.positional = [try parsePostfix(try parsePrimary())]
        default:
            break
        }
        let test = Expr(.test(node, name, args), pos)
        return negated ? Expr(.not(test), pos) : test
    }
}
