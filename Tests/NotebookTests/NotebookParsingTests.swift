import Foundation
import Testing
@testable import Notebook

private func parse(_ text: String) throws -> Notebook { try Notebook(text: text, path: "nb.md") }

/// The error thrown by `body`, or a recorded issue if none.
private func error(_ body: () throws -> Any) -> NotebookError? {
    do { _ = try body() } catch let e as NotebookError { return e } catch { Issue.record("unexpected \(error)") ; return nil }
    Issue.record("no error thrown")
    return nil
}

@Test func parsesTheExampleNotebook() throws {
    let path = notebookFixtures.appendingPathComponent("example.md").path
    let nb = try Notebook(path: path)
    #expect(nb.title == "Medical CoT, small run")
    #expect(nb.cells.map(\.kind) == [.load, .format, .train, .infer, .eval])
    #expect(nb.cells.map(\.index) == [1, 2, 3, 4, 5])
    #expect(nb.cells.map(\.startLine) == [5, 23, 37, 48, 54])
    #expect(nb.cells.map(\.endLine) == [7, 33, 46, 52, 55])
    let train = nb.cells[2]
    #expect(train.params.map(\.key) == ["r", "lora_alpha", "lr", "max_steps", "scheduler", "targets"])
    #expect(train.params.first { $0.key == "lr" }?.line == 40)
    #expect(train.value("targets") == .array([.string("q"), .string("v")]))
    #expect(train.source.hasPrefix("```train\nr = 8") && train.source.hasSuffix("\n```"))
    #expect(nb.cells[1].value("template_text") == .string("### Question:\n{Question}\n\n### Response:\n{Response}"))
    #expect(nb.cells[3].value("question") == .string("What causes fever?"))
    #expect(nb.cells[4].params.isEmpty)
    #expect(nb.text.contains("```python"))
}

@Test func otherFencesAreProse() throws {
    let nb = try parse("""
        ```python
        train = 1
        ```
        ```text
        load
        ```
        ```
        eval
        ```
        ````markdown
        ```train
        lr = "nested, still prose"
        ```
        ````
            ```train
            indented four spaces: not a fence
            ```
        """)
    #expect(nb.cells.isEmpty)
    #expect(nb.title == nil)
}

@Test func crlfAndInfoStringAttributes() throws {
    let nb = try parse("# T\r\n```train {#first}\r\nlr = 0.001\r\n```\r\n")
    #expect(nb.title == "T")
    #expect(nb.cells.count == 1 && nb.cells[0].value("lr") == .double(0.001))
}

@Test func unknownKindNamesLineAndSuggests() {
    let e = error { try parse("# x\n\n```trian\nlr = 1\n```\n") }
    #expect(e?.file == "nb.md" && e?.line == 3 && e?.key == "trian" && e?.suggestion == "train")
    #expect(e?.description.hasPrefix("nb.md:3: trian: unknown cell kind") == true)
    #expect(e?.description.contains("did you mean 'train'?") == true)
    #expect(error { try parse("```Infer\n```\n") }?.suggestion == "infer")
}

@Test func unknownKeyNamesLineAndSuggests() {
    let e = error { try parse("```train\nr = 8\nmax_step = 20\n```\n") }
    #expect(e?.line == 3 && e?.key == "train.max_step" && e?.suggestion == "max_steps")
    #expect(e?.description == "nb.md:3: train.max_step: unknown parameter of a train cell (did you mean 'max_steps'?)")
}

@Test func wrongTypesNameLineAndKey() {
    let lr = error { try parse("```train\n\nlr = \"fast\"\n```\n") }
    #expect(lr?.line == 3 && lr?.key == "train.lr" && lr?.message.contains("expected a number") == true)
    let steps = error { try parse("```train\nmax_steps = 2.5\n```\n") }
    #expect(steps?.line == 2 && steps?.key == "train.max_steps" && steps?.message.contains("integer") == true)
    let targets = error { try parse("```train\ntargets = \"q\"\n```\n") }
    #expect(targets?.key == "train.targets" && targets?.message.contains("array of strings") == true)
    let sched = error { try parse("```train\nscheduler = \"cosin\"\n```\n") }
    #expect(sched?.line == 2 && sched?.suggestion == "cosine")
    let badTarget = error { try parse("```train\ntargets = [\"q\", \"gat\"]\n```\n") }
    #expect(badTarget?.suggestion == "gate")
    let neg = error { try parse("```train\nr = 0\n```\n") }
    #expect(neg?.key == "train.r" && neg?.message.contains("at least 1") == true)
    let bad = error { try parse("```infer\nquestion = What is it\n```\n") }
    #expect(bad?.line == 2 && bad?.key == "infer.question" && bad?.message.contains("quotes") == true)
}

@Test func structuralErrors() {
    #expect(error { try parse("```train\nlr = 1e-4\nlr = 2e-4\n```\n") }?.message == "set twice (first on line 2)")
    let open = error { try parse("text\n```load\nmodel = \"x\"\n") }
    #expect(open?.line == 2 && open?.message.contains("not closed") == true)
    let multi = error { try parse("```format\n\ntemplate_text = '''\nabc\n```\n") }
    #expect(multi?.line == 3 && multi?.message.contains("unterminated") == true)
    #expect(error { try parse("```train\nlr 1e-4\n```\n") }?.message.contains("expected '='") == true)
    #expect(error { try parse("```train\nlr = 1e-4 r = 8\n```\n") }?.line == 2)
    #expect(error { try Notebook(path: "/nonexistent/nb.md") }?.file == "/nonexistent/nb.md")
}

@Test func resolveFillsDefaultsAndWidensIntegers() throws {
    let nb = try parse("```train\nlr = 1\nr = 8\n```\n```infer\n```\n")
    let p = try nb.cells[0].resolve()
    #expect(Set(p.values.keys) == Set(CellSchema.params(for: .train).map(\.key)))
    #expect(p["lr"] == .double(1.0) && p.double("lr") == 1)
    #expect(p.int("r") == 8 && p.double("lora_alpha") == 16 && p.int("max_steps") == 60)
    #expect(p.strings("targets") == ["q", "k", "v", "o", "gate", "up", "down"])
    #expect(p.string("scheduler") == "linear" && p.bool("plot") && !p.bool("use_rslora"))
    #expect(p.explicitKeys == ["lr", "r"])
    #expect(p.recorded["lr"] == "1.0" && p.recorded["scheduler"] == "linear" && p.recorded["out"] == "")
    let q = try nb.cells[0].resolve(overrides: ["lr": .double(5e-5), "scheduler": .string("cosine")])
    #expect(q.double("lr") == 5e-5 && q.string("scheduler") == "cosine" && q.int("r") == 8)
    #expect(q.explicitKeys == ["lr", "r", "scheduler"])
    let bad = error { try nb.cells[0].resolve(overrides: ["lrr": .int(1)]) }
    #expect(bad?.key == "train.lrr" && bad?.suggestion == "lr")
    let infer = try nb.cells[1].resolve()
    #expect(infer.string("adapter") == "auto" && infer.int("max_new_tokens") == 256 && infer.double("top_p") == 1)
}

@Test func everySchemaDefaultPassesItsOwnChecks() throws {
    for kind in CellKind.allCases {
        let p = try Cell(index: 1, kind: kind, params: [], source: "").resolve()
        for spec in CellSchema.params(for: kind) {
            #expect(p[spec.key] == spec.defaultValue, "\(kind).\(spec.key)")
            #expect(!spec.help.isEmpty)
        }
    }
}

@Test func overridesParseTOMLWithBareWordsAsStrings() throws {
    #expect(try Override(parsing: "train.lr=1e-4") == Override(kind: .train, key: "lr", value: .double(1e-4)))
    #expect(try Override(parsing: "train.max_steps = 30").value == .int(30))
    #expect(try Override(parsing: "train.scheduler=cosine").value == .string("cosine"))
    #expect(try Override(parsing: "train.lr=1").value == .double(1))
    #expect(try Override(parsing: "infer.question=What is 2+2?").value == .string("What is 2+2?"))
    #expect(try Override(parsing: "infer.question=42").value == .string("42"))
    #expect(try Override(parsing: "load.model=hf:org/name").value == .string("hf:org/name"))
    #expect(try Override(parsing: "train.targets=q,v").value == .array([.string("q"), .string("v")]))
    #expect(try Override(parsing: "train.targets=[\"q\"]").value == .array([.string("q")]))
    #expect(try Override(parsing: "format.packing=true").value == .bool(true))
    #expect(try Override(parsing: "train.out=\"runs/a b\"").value == .string("runs/a b"))
    #expect(try Override(parsing: "train.lr=1e-4").text == "train.lr=0.0001")
    #expect(try Override(parsing: try Override(parsing: "infer.prompt=a \"q\"").text).value == .string("a \"q\""))

    #expect(error { try Override(parsing: "train.lrr=1") }?.suggestion == "train.lr")
    #expect(error { try Override(parsing: "trian.lr=1") }?.suggestion == "train.lr")
    #expect(error { try Override(parsing: "lr=1") }?.message.contains("kind.key=value") == true)
    #expect(error { try Override(parsing: "train.lr") }?.message.contains("kind.key=value") == true)
    let t = error { try Override(parsing: "train.max_steps=abc") }
    #expect(t?.key == "train.max_steps" && t?.message.contains("integer") == true)
    #expect(error { try Override(parsing: "train.scheduler=cosin") }?.suggestion == "cosine")
}

@Test func typedCellsParse() throws {
    let c = try parseTypedCell("train max_steps=20 lr=1e-4  scheduler=cosine targets=[\"q\", \"v\"] out=runs/x", index: 7)
    #expect(c.kind == .train && c.index == 7 && c.startLine == 0)
    #expect(c.value("max_steps") == .int(20) && c.value("lr") == .double(1e-4) && c.value("scheduler") == .string("cosine"))
    #expect(c.value("targets") == .array([.string("q"), .string("v")]) && c.value("out") == .string("runs/x"))
    let q = try parseTypedCell("infer question=\"Why is the sky blue?\" max_new_tokens=32", index: 1)
    #expect(q.value("question") == .string("Why is the sky blue?") && q.value("max_new_tokens") == .int(32))
    #expect(try parseTypedCell("eval", index: 1).params.isEmpty)
    #expect(try parseTypedCell("train lr = 3e-4", index: 1).value("lr") == .double(3e-4))
    #expect(error { try parseTypedCell("train max_step=20", index: 1) }?.suggestion == "max_steps")
    #expect(error { try parseTypedCell("train lr=fast", index: 1) }?.key == "train.lr")
    #expect(error { try parseTypedCell("trian lr=1", index: 1) }?.suggestion == "train")
    #expect(error { try parseTypedCell("infer question=What is it", index: 1) }?.message.contains("=") == true)
    #expect(error { try parseTypedCell("train lr=1 lr=2", index: 1) }?.message == "set twice")
}
