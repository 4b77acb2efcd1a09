import Foundation

/// Variable scope. `for` iterations, macros and `with` blocks get a child scope, so a `set` inside them
/// does not leak out (Jinja's scoping; namespaces are how templates carry state out of loops).
final class Scope {
    var vars: [String: Value] = [:]
    let parent: Scope?

    init(parent: Scope?) { self.parent = parent }

    func lookup(_ name: String) -> Value? {
        var s: Scope? = self
        while let c = s {
            if let v = c.vars[name] { return v }
            s = c.parent
        }
        return nil
    }
}

/// Walks the syntax tree, writing output to `out`.
final class Interpreter {
    private(set) var out = ""
    let now: () -> Date
    /// Macro recursion limit (Python's own recursion limit stops runaway Jinja macros).
    static let maxCallDepth = 64
    private var callDepth = 0
    /// A render's work (statements run, loop iterations, macro calls) and output are capped:
    /// `range` is limited to 100,000 items, but loops nest, so a template could otherwise run
    /// for hours or fill memory. Real chat templates take tens of steps per message, so the cap
    /// is a 20,000-message conversation; reaching it takes ~0.4 s.
    static let maxSteps = 1_000_000
    static let maxOutputBytes = 16 << 20
    private var steps = 0

    private func step(_ n: Int = 1) throws {
        steps += n
        if steps > Interpreter.maxSteps {
            throw EngineError.render("the template ran more than \(Interpreter.maxSteps) steps (a loop that never ends?)")
        }
    }

    private func checkOutput() throws {
        if out.utf8.count > Interpreter.maxOutputBytes {
            throw EngineError.render("the template's output exceeds \(Interpreter.maxOutputBytes >> 20) MB")
        }
    }

    init(now: @escaping () -> Date) { self.now = now }

    enum Flow { case normal, breakLoop, continueLoop }

    func render(_ nodes: [Node], _ scope: Scope) throws -> String {
        out = ""
        steps = 0
        _ = try exec(nodes, scope)
        return out
    }

    /// Runs `nodes` into a fresh buffer and returns what they printed.
    func capture(_ nodes: [Node], _ scope: Scope) throws -> String {
        let saved = out
        out = ""
        defer { out = saved }
        _ = try exec(nodes, scope)
        return out
    }

    func exec(_ nodes: [Node], _ scope: Scope) throws -> Flow {
        for node in nodes {
            try step()
            switch node {
            case .text(let s):
                out += s
                try checkOutput()
            case .output(let e):
                out += try eval(e, scope).str
                try checkOutput()
            case .ifBlock(let branches, let elseBody):
                var taken = false
                for (cond, body) in branches where try eval(cond, scope).truthy {
                    taken = true
                    let flow = try exec(body, scope)
                    if flow != .normal { return flow }
                    break
                }
                if !taken {
                    let flow = try exec(elseBody, scope)
                    if flow != .normal { return flow }
                }
            case .forLoop(let loop):
                try execFor(loop, scope)
            case .set(let target, let e, let pos):
                try assign(target, try eval(e, scope), scope, pos)
            case .setBlock(let target, let body, let filters, let pos):
                var v = Value.string(try capture(body, scope))
                for f in filters { v = try applyFilter(f, v, scope) }
                try assign(target, v, scope, pos)
            case .macro(let def):
                scope.vars[def.name] = .callable(makeMacro(def, scope))
            case .filterBlock(let filters, let body):
                var v = Value.string(try capture(body, scope))
                for f in filters { v = try applyFilter(f, v, scope) }
                out += v.str
                try checkOutput()
            case .with(let assigns, let body, let pos):
                let inner = Scope(parent: scope)
                for (t, e) in assigns { try assign(t, try eval(e, scope), inner, pos) }
                let flow = try exec(body, inner)
                if flow != .normal { return flow }
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            }
        }
        return .normal
    }

    private func applyFilter(_ f: FilterCall, _ v: Value, _ scope: Scope) throws -> Value {
        do {
            let args = try evalArgs(f.args, scope, f.pos)
            return try Filters.apply(f.name, v, args, self)
        } catch let e as EngineError {
            throw e.located(f.pos)
        }
    }

    private func execFor(_ loop: ForLoop, _ scope: Scope) throws {
        var items: [Value]
        do {
            items = try eval(loop.iter, scope).iterate()
        } catch let e as EngineError {
            throw e.located(loop.pos)
        }
        if let cond = loop.condition {
            items = try items.filter { item in
                try step()
                let s = Scope(parent: scope)
                try assign(loop.target, item, s, loop.pos)
                return try eval(cond, s).truthy
            }
        }
        if items.isEmpty {
            _ = try exec(loop.elseBody, scope)
            return
        }
        // Jinja's loop.depth only grows in recursive loops, which are not supported: always 1.
        let state = LoopState(items: items, depth: 1)
        for (k, item) in items.enumerated() {
            try step()
            state.index0 = k
            let s = Scope(parent: scope)
            try assign(loop.target, item, s, loop.pos)
            s.vars["loop"] = .loop(state)
            if try exec(loop.body, s) == .breakLoop { break }
        }
    }

    func assign(_ target: Target, _ v: Value, _ scope: Scope, _ pos: SourcePos) throws {
        switch target {
        case .name(let n):
            scope.vars[n] = v
        case .tuple(let targets):
            let items: [Value]
            do { items = try v.iterate() } catch let e as EngineError { throw e.located(pos) }
            if items.count > targets.count {
                throw EngineError.render("too many values to unpack (expected \(targets.count))", pos)
            }
            if items.count < targets.count {
                throw EngineError.render(
                    "not enough values to unpack (expected \(targets.count), got \(items.count))", pos)
            }
            for (t, item) in zip(targets, items) { try assign(t, item, scope, pos) }
        case .namespaceAttr(let ns, let attr):
            guard case .namespace(let n)? = scope.lookup(ns) else {
                throw EngineError.render("cannot assign attribute on non-namespace object", pos)
            }
            if attr.hasPrefix("_") {
                throw EngineError.render(
                    "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(attr)'. Please rename the attribute.",
                    pos)
            }
            n.attrs[attr] = v
        }
    }

    private func makeMacro(_ def: MacroDef, _ scope: Scope) -> Callable {
        Callable(def.name) { [unowned self] args in
            if args.positional.count > def.params.count {
                throw EngineError.render(
                    "macro '\(def.name)' takes not more than \(def.params.count) argument(s)", args.pos)
            }
            let s = Scope(parent: scope)
            for (k, (name, def)) in def.params.enumerated() {
                if let v = args.get(k, name) {
                    s.vars[name] = v
                } else if let d = def {
                    s.vars[name] = try self.eval(d, s)
                } else {
                    s.vars[name] = .undefined("parameter '\(name)' was not provided")
                }
            }
            for (k, _) in args.keyword where !def.params.contains(where: { $0.0 == k }) {
                throw EngineError.render("macro '\(def.name)' was invoked with two values for the special caller argument or an unknown keyword '\(k)'", args.pos)
            }
            if self.callDepth >= Interpreter.maxCallDepth {
                throw EngineError.render("maximum recursion depth exceeded in macro '\(def.name)'", args.pos)
            }
            try self.step()
            self.callDepth += 1
            defer { self.callDepth -= 1 }
            return .string(try self.capture(def.body, s))
        }
    }

    func evalArgs(_ a: Args, _ scope: Scope, _ pos: SourcePos) throws -> CallArgs {
        CallArgs(
            positional: try a.positional.map { try eval($0, scope) },
            keyword: try a.keyword.map { ($0.0, try eval($0.1, scope)) },
            pos: pos)
    }

    func eval(_ e: Expr, _ scope: Scope) throws -> Value {
        do {
            let v = try evalInner(e, scope)
            // Large values cost steps by size (a step per 4 KB or 4k items): a loop copying a
            // 10 MB string once per iteration runs out of budget in a second, not an hour.
            switch v {
            case .string(let s) where s.utf8.count > 4096: try step(s.utf8.count >> 12)
            case .list(let a) where a.count > 4096: try step(a.count >> 12)
            default: break
            }
            return v
        } catch let err as EngineError {
            throw err.located(e.pos)
        }
    }

    private func evalInner(_ e: Expr, _ scope: Scope) throws -> Value {
        switch e.kind {
        case .literal(let v):
            return v
        case .name(let n):
            return scope.lookup(n) ?? .undefined("'\(n)' is undefined")
        case .list(let items):
            return .list(try items.map { try eval($0, scope) })
        case .tuple(let items):
            return .tuple(try items.map { try eval($0, scope) })
        case .dict(let items):
            var d = ODict()
            for (k, v) in items {
                let key = try eval(k, scope)
                guard case .string(let ks) = key else {
                    throw EngineError.render("dict keys must be strings in this template engine, got \(key.typeName)", k.pos)
                }
                d[ks] = try eval(v, scope)
            }
            return .dict(d)
        case .getattr(let obj, let name):
            return try Access.getattr(try eval(obj, scope), name)
        case .getitem(let obj, let key):
            return try Access.getitem(try eval(obj, scope), try eval(key, scope))
        case .slice(let obj, let start, let stop, let step):
            let o = try eval(obj, scope)
            return try Access.slice(
                o, try start.map { try eval($0, scope) }, try stop.map { try eval($0, scope) },
                try step.map { try eval($0, scope) })
        case .call(let callee, let a):
            let f = try eval(callee, scope)
            let args = try evalArgs(a, scope, e.pos)
            switch f {
            case .callable(let c): return try c.body(args)
            case .undefined(let hint): throw EngineError.render(hint)
            default: throw EngineError.render("'\(f.typeName)' object is not callable")
            }
        case .filter(let input, let name, let a):
            let v = try eval(input, scope)
            return try Filters.apply(name, v, try evalArgs(a, scope, e.pos), self)
        case .test(let input, let name, let a):
            let v = try eval(input, scope)
            return .bool(try Predicates.apply(name, v, try evalArgs(a, scope, e.pos)))
        case .neg(let x):
            let v = try eval(x, scope)
            switch v.number {
            case .int(let i)?:
                let (r, overflow) = Int(0).subtractingReportingOverflow(i)
                if overflow { throw EngineError.render("integer overflow in unary -") }
                return .int(r)
            case .double(let d)?: return .double(-d)
            case nil:
                if case .undefined(let hint) = v { throw EngineError.render(hint) }
                throw EngineError.render("bad operand type for unary -: '\(v.typeName)'")
            }
        case .pos(let x):
            let v = try eval(x, scope)
            switch v.number {
            case .int(let i)?: return .int(i)
            case .double(let d)?: return .double(d)
            case nil:
                if case .undefined(let hint) = v { throw EngineError.render(hint) }
                throw EngineError.render("bad operand type for unary +: '\(v.typeName)'")
            }
        case .not(let x):
            return .bool(!(try eval(x, scope).truthy))
        case .and(let a, let b):
            let l = try eval(a, scope)
            return l.truthy ? try eval(b, scope) : l
        case .or(let a, let b):
            let l = try eval(a, scope)
            return l.truthy ? l : try eval(b, scope)
        case .binary(let op, let a, let b):
            return try Value.binary(op, try eval(a, scope), try eval(b, scope))
        case .compare(let first, let ops):
            var left = try eval(first, scope)
            for (op, rhs) in ops {
                let right = try eval(rhs, scope)
                let ok: Bool
                switch op {
                case "==": ok = left.equals(right)
                case "!=": ok = !left.equals(right)
                case "in": ok = try right.contains(left)
                case "notin": ok = !(try right.contains(left))
                default: ok = try Value.order(op, left, right)
                }
                if !ok { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .cond(let test, let then, let otherwise):
            if try eval(test, scope).truthy { return try eval(then, scope) }
            if let otherwise { return try eval(otherwise, scope) }
            return .undefined(
                "the inline if-expression on line \(e.pos.line) evaluated to false and no else section was defined.")
        }
    }
}
