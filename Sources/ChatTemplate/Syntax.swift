/// Expression tree. A class so the recursive cases need no boxing and nodes can be shared freely.
final class Expr {
    enum Kind {
        case literal(Value)
        case name(String)
        case list([Expr])
        case tuple([Expr])
        case dict([(Expr, Expr)])
        case getattr(Expr, String)
        case getitem(Expr, Expr)
        case slice(Expr, Expr?, Expr?, Expr?)
        case call(Expr, Args)
        case filter(Expr, String, Args)
        case test(Expr, String, Args)
        case neg(Expr)
        case pos(Expr)
        case not(Expr)
        case and(Expr, Expr)
        case or(Expr, Expr)
        case binary(String, Expr, Expr)  // + - * / // % ** ~
        case compare(Expr, [(String, Expr)])  // == != < <= > >= in notin
        case cond(test: Expr, then: Expr, otherwise: Expr?)
    }

    let kind: Kind
    let pos: SourcePos

    init(_ kind: Kind, _ pos: SourcePos) {
        self.kind = kind
        self.pos = pos
    }
}

struct Args {
    var positional: [Expr] = []
    var keyword: [(String, Expr)] = []
}

/// Assignment targets of `for` and `set`.
enum Target {
    case name(String)
    case tuple([Target])
    case namespaceAttr(String, String)
}

/// A filter application in `{% filter %}` or a block `{% set x | f %}`.
struct FilterCall {
    var name: String
    var args: Args
    var pos: SourcePos
}

final class ForLoop {
    let target: Target
    let iter: Expr
    let condition: Expr?
    let body: [Node]
    let elseBody: [Node]
    let pos: SourcePos

    init(target: Target, iter: Expr, condition: Expr?, body: [Node], elseBody: [Node], pos: SourcePos) {
        self.target = target
        self.iter = iter
        self.condition = condition
        self.body = body
        self.elseBody = elseBody
        self.pos = pos
    }
}

final class MacroDef {
    let name: String
    let params: [(String, Expr?)]
    let body: [Node]
    let pos: SourcePos

    init(name: String, params: [(String, Expr?)], body: [Node], pos: SourcePos) {
        self.name = name
        self.params = params
        self.body = body
        self.pos = pos
    }
}

enum Node {
    case text(String)
    case output(Expr)
    case ifBlock([(Expr, [Node])], [Node])
    case forLoop(ForLoop)
    case set(Target, Expr, SourcePos)
    case setBlock(Target, [Node], [FilterCall], SourcePos)
    case macro(MacroDef)
    case filterBlock([FilterCall], [Node])
    case with([(Target, Expr)], [Node], SourcePos)
    case breakLoop
    case continueLoop
}
