import Foundation
import Kernels
import Notebook
import Testing
@testable import REPL

/// Feeds a fixed script of lines, as piped stdin would.
final class ScriptedReader: LineReader {
    var lines: [String]
    var prompts: [String] = []
    var history: [String] = []
    init(_ lines: [String]) { self.lines = lines }
    func readLine(prompt: String) -> String? {
        prompts.append(prompt)
        return lines.isEmpty ? nil : lines.removeFirst()
    }
    func addHistory(_ line: String) { history.append(line) }
}

/// Records what it is asked to run; fails or "interrupts" on request.
final class FakeExecutor: CellExecutor {
    struct Call { let index: Int; let kind: CellKind; let params: ResolvedParams; let changes: [String: String] }
    var calls: [Call] = []
    var commands: [(String, [String])] = []
    var finished: [Bool] = []
    var failKinds: Set<CellKind> = []
    var interruptKinds: Set<CellKind> = []

    func execute(_ cell: Cell, params: ResolvedParams, changes: [String: String]) throws -> String {
        calls.append(Call(index: cell.index, kind: cell.kind, params: params, changes: changes))
        if failKinds.contains(cell.kind) { throw NotebookError(message: "boom in \(cell.kind.rawValue)") }
        if interruptKinds.contains(cell.kind) { Interrupt.request(); return "stopped early" }
        return "\(cell.kind.rawValue) done"
    }

    func command(_ name: String, arguments: [String]) throws -> Bool {
        commands.append((name, arguments))
        if name == "plot" && arguments.isEmpty { throw NotebookError(message: "plot needs run ids") }
        return name == "runs" || name == "plot"
    }

    func finish(interrupted: Bool) { finished.append(interrupted) }
}

let replNotebook = """
    # Session

    ```load
    model = "default"
    ```

    ```format
    max_seq_length = 128
    ```

    ```train
    max_steps = 10
    lr = 1e-4
    ```

    ```infer
    question = "Why?"
    ```
    """

/// Runs a script through a REPL on `replNotebook`; returns the executor, REPL and printed text.
func session(_ lines: [String], notebook: Bool = true, overrides: [Override] = [],
             configure: (FakeExecutor) -> Void = { _ in }) throws -> (FakeExecutor, Repl, out: String, err: String, reader: ScriptedReader) {
    let ex = FakeExecutor()
    configure(ex)
    let reader = ScriptedReader(lines)
    var out: [String] = [], err: [String] = []
    let nb = notebook ? try Notebook(text: replNotebook, path: "session.md") : nil
    let repl = Repl(notebook: nb, executor: ex, reader: reader, overrides: overrides,
                    out: { out.append($0) }, err: { err.append($0) })
    repl.run()
    return (ex, repl, out.joined(separator: "\n"), err.joined(separator: "\n"), reader)
}

@Suite(.serialized) struct ReplTests {
    @Test func nextRunsCellsInOrderAndMovesTheCursor() throws {
        let (ex, repl, out, err, reader) = try session([":next", ":next", ":cells", ":next", ":next", ":next"])
        #expect(ex.calls.map(\.kind) == [.load, .format, .train, .infer])
        #expect(ex.calls.map(\.index) == [1, 2, 3, 4])
        #expect(repl.states == [.ok(summary: "load done"), .ok(summary: "format done"), .ok(summary: "train done"), .ok(summary: "infer done")])
        #expect(repl.cursor == 4)
        #expect(err.contains("no more cells"))
        // :cells after two cells: states, and the cursor on cell 3.
        #expect(out.contains("  1  load    ok           load done"))
        #expect(out.contains("> 3  train   not run      max_steps=10 lr=0.0001"))
        #expect(ex.finished == [false])
        #expect(reader.prompts.first == "tunelab [1/4 load]> ")
        #expect(reader.history == [":next", ":next", ":cells", ":next", ":next", ":next"])
    }

    @Test func paramsAreResolvedWithDefaults() throws {
        let (ex, _, _, _, _) = try session([":run 3"])
        let p = try #require(ex.calls.first?.params)
        #expect(p.int("max_steps") == 10 && p.double("lr") == 1e-4 && p.int("r") == 16 && p.string("scheduler") == "linear")
        #expect(ex.calls.first?.changes == [:])
    }

    @Test func runAllAndRanges() throws {
        let (ex, repl, _, _, _) = try session([":run all", ":run 2-3", ":run 1"])
        #expect(ex.calls.map(\.index) == [1, 2, 3, 4, 2, 3, 1])
        #expect(repl.cursor == 4)
    }

    @Test func setAppliesToLaterRunsOfThatKindAndIsPassedAsChanges() throws {
        let (ex, repl, out, err, _) = try session([
            ":run 3", ":set train.lr=5e-5 train.scheduler=cosine", ":run 3", ":run 4", ":set", ":unset train.lr", ":run 3",
            ":set infer.question=What is it, really?", ":run 4", ":set train.targets=[\"q\", \"v\"]", ":run 3",
        ])
        #expect(err.isEmpty, "\(err)")
        let train = ex.calls.filter { $0.kind == .train }
        #expect(train.map { $0.params.double("lr") } == [1e-4, 5e-5, 1e-4, 1e-4])
        #expect(train.map { $0.params.string("scheduler") } == ["linear", "cosine", "cosine", "cosine"])
        #expect(train[1].changes == ["lr": "5e-05", "scheduler": "cosine"])
        #expect(train[2].changes == ["scheduler": "cosine"])
        #expect(train[3].params.strings("targets") == ["q", "v"])
        let infer = ex.calls.filter { $0.kind == .infer }
        #expect(infer[0].changes == [:] && infer[0].params.string("question") == "Why?")
        #expect(infer[1].params.string("question") == "What is it, really?")
        #expect(out.contains("train.lr = 5e-05"))
        #expect(repl.overrides[.train]?["scheduler"] == .string("cosine"))
    }

    @Test func initialOverridesComeFromTheCommandLine() throws {
        let (ex, _, _, _, _) = try session([":run 3"], overrides: [try Override(parsing: "train.max_steps=30")])
        #expect(ex.calls.first?.params.int("max_steps") == 30 && ex.calls.first?.changes == ["max_steps": "30"])
    }

    @Test func badCommandsPrintErrorsAndGoOn() throws {
        let (ex, _, _, err, _) = try session([
            ":rnu 1", ":run 9", ":run x", ":set train.lrr=1", ":set train.lr=fast", "trian max_steps=3", "hello",
            "train max_step=3", ":show 0", ":plot", ":unset train.r", ":next",
        ])
        #expect(err.contains("unknown command ':rnu' (did you mean ':run'?)"))
        #expect(err.contains("no cell 9 (cells are 1-4)"))
        #expect(err.contains("'x' is not a cell number"))
        #expect(err.contains("train.lrr: unknown parameter of a train cell (did you mean 'train.lr'?)"))
        #expect(err.contains("train.lr: expected a number"))
        #expect(err.contains("did you mean 'train'?"))
        #expect(err.contains("'hello' is neither a cell kind"))
        #expect(err.contains("did you mean 'max_steps'?"))
        #expect(err.contains("plot needs run ids"))
        #expect(err.contains("no change to train.r"))
        // The session went on: the final :next still ran the first cell.
        #expect(ex.calls.map(\.kind) == [.load])
        #expect(ex.commands.map(\.0) == ["rnu", "plot"])
    }

    @Test func executorCommandsGetTheirArguments() throws {
        let (ex, _, _, err, _) = try session([":runs", ":plot 7 9 --metric loss -o \"my curves.png\""])
        #expect(err.isEmpty)
        #expect(ex.commands.map(\.0) == ["runs", "plot"])
        #expect(ex.commands[1].1 == ["7", "9", "--metric", "loss", "-o", "my curves.png"])
    }

    @Test func quitStopsReadingAndFinishesOnce() throws {
        let (ex, _, _, _, reader) = try session([":next", ":quit", ":next"])
        #expect(ex.calls.count == 1)
        #expect(reader.lines == [":next"])
        #expect(ex.finished == [false])
    }

    @Test func aFailedCellIsRetriedByNextAfterASet() throws {
        let ex = FakeExecutor()
        /// Fails a format cell whose max_seq_length is below 256.
        final class Flaky: CellExecutor {
            let inner: FakeExecutor
            init(_ inner: FakeExecutor) { self.inner = inner }
            func execute(_ cell: Cell, params: ResolvedParams, changes: [String: String]) throws -> String {
                _ = try inner.execute(cell, params: params, changes: changes)
                if cell.kind == .format && params.int("max_seq_length") < 256 { throw NotebookError(message: "too short") }
                return "ok"
            }
            func command(_ name: String, arguments: [String]) throws -> Bool { false }
            func finish(interrupted: Bool) {}
        }
        let repl = Repl(notebook: try Notebook(text: replNotebook, path: "s.md"), executor: Flaky(ex),
                        reader: ScriptedReader([":next", ":next", ":set format.max_seq_length=256", ":next", ":next"]),
                        out: { _ in }, err: { _ in })
        repl.run()
        #expect(ex.calls.map(\.index) == [1, 2, 2, 3])
        #expect(ex.calls[2].params.int("max_seq_length") == 256 && repl.cursor == 3)
    }

    @Test func failuresAndInterruptionsAreRecordedAndStopRunAll() throws {
        let (ex, repl, out, err, _) = try session([":run all", ":cells"]) { $0.failKinds = [.format] }
        #expect(ex.calls.map(\.kind) == [.load, .format])
        #expect(repl.states[1] == .failed(error: "boom in format") && repl.states[2] == .notRun)
        #expect(repl.cursor == 1)  // stays on the failed cell for a retry
        #expect(err.contains("cell 2 (format) failed: boom in format"))
        #expect(out.contains("failed       boom in format"))

        let (ex2, repl2, _, err2, _) = try session([":run all"]) { $0.interruptKinds = [.train] }
        #expect(ex2.calls.map(\.kind) == [.load, .format, .train])
        #expect(repl2.states[2] == .interrupted && repl2.cursor == 2)
        #expect(err2.contains("cell 3 (train) interrupted"))
        #expect(!Interrupt.requested)
        #expect(ex2.finished == [true])
    }

    @Test func typedCellsRunAndJoinTheList() throws {
        let (ex, repl, _, err, _) = try session(["train max_steps=20 lr=1e-4 scheduler=cosine", ":set infer.max_new_tokens=8", "infer question=\"Hi?\"", ":cells"], notebook: false)
        #expect(err.isEmpty, "\(err)")
        #expect(ex.calls.map(\.kind) == [.train, .infer])
        #expect(ex.calls[0].params.int("max_steps") == 20 && ex.calls[0].params.string("scheduler") == "cosine")
        #expect(ex.calls[1].params.int("max_new_tokens") == 8 && ex.calls[1].changes == ["max_new_tokens": "8"])
        #expect(repl.cells.map(\.index) == [1, 2])
        #expect(repl.states.allSatisfy { if case .ok = $0 { return true } else { return false } })
    }

    /// A cell typed in the middle of a notebook is an aside: the cursor stays on the notebook's
    /// next cell (it used to jump to the end).
    @Test func aTypedCellDoesNotMoveTheNotebooksCursor() throws {
        let (ex, repl, _, err, reader) = try session([":next", "infer question=\"Aside?\"", ":next"])
        #expect(err.isEmpty, "\(err)")
        #expect(ex.calls.map(\.kind) == [.load, .infer, .format])
        #expect(repl.cursor == 2)
        #expect(reader.prompts == ["tunelab [1/4 load]> ", "tunelab [2/4 format]> ", "tunelab [2/5 format]> ", "tunelab [3/5 train]> "])
        // At the end of the notebook the cursor stays past the end.
        let (_, end, _, _, _) = try session([":run all", "infer question=\"Then?\""])
        #expect(end.cursor == end.cells.count)
    }

    @Test func showAndHelp() throws {
        let (_, _, out, _, _) = try session([":set train.r=4", ":show 3", ":help", ":help train"])
        #expect(out.contains("cell 3 (train), session.md lines 11-14: not run\n```train\nmax_steps = 10\nlr = 1e-4\n```\nchanges for the next run: r = 4"))
        #expect(out.contains(":next") && out.contains(":runs") && out.contains("format "))
        #expect(out.contains("max_grad_norm") && out.contains("(constant|constant_with_warmup|linear|cosine)"))
    }

    @Test func runAllForBatchRuns() throws {
        let ex = FakeExecutor()
        ex.failKinds = [.infer]
        let repl = Repl(notebook: try Notebook(text: replNotebook, path: "s.md"), executor: ex, reader: ScriptedReader([]),
                        overrides: [try Override(parsing: "train.max_steps=3")], out: { _ in }, err: { _ in })
        #expect(repl.runAll() == false)
        #expect(ex.calls.map(\.kind) == [.load, .format, .train, .infer])
        #expect(ex.calls[2].params.int("max_steps") == 3)
        #expect(ex.finished.isEmpty)
    }
}

@Test func argumentSplitting() throws {
    #expect(try splitArguments(":plot 7 9  --metric 'eval loss' -o \"a \\\"b\\\".png\"") == [":plot", "7", "9", "--metric", "eval loss", "-o", "a \"b\".png"])
    #expect(try splitArguments("  ") == [])
    #expect(try splitArguments("x ''") == ["x", ""])
    #expect(throws: NotebookError.self) { try splitArguments("x 'open") }
    #expect(Repl.splitAssignments("train.lr=1e-4 train.r=8") == ["train.lr=1e-4", "train.r=8"])
    #expect(Repl.splitAssignments("infer.question=\"a b. c.d=e\" train.r=8") == ["infer.question=\"a b. c.d=e\"", "train.r=8"])
}
