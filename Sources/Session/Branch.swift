import Foundation
import Notebook
import Record

/// `tunelab branch RUN --from-step N --set train.lr=…`: a new run (kind `branch`, parent RUN)
/// that rebuilds RUN's model and data with the recorded parameters, then continues its train
/// cell from the checkpoint at step N with changed settings. A resume must keep the settings;
/// a branch is the way to change them (the adapter's shape, r and targets, stays).
public func branchRun(_ runID: Int64, fromStep step: Int, overrides: [Override], db: ExperimentDB, quiet: Bool = false,
                      out: (String) -> Void = { print($0) }) throws -> (runID: Int64?, summary: String) {
    guard let detail = try db.run(runID) else { throw SessionError("no run \(runID) in \(db.path)") }
    guard let trainIndex = detail.cells.lastIndex(where: { $0.kind == "train" && $0.outcome != .error }) else {
        throw SessionError("run \(runID) has no train cell to branch from")
    }
    let train = detail.cells[trainIndex]
    let checkpoints = try db.artifacts(cellID: train.id).filter { $0.kind == "checkpoint" }.map { a -> String in
        // Checkpoints are recorded as folders (older records: the adapter file inside one).
        a.path.hasSuffix("/adapter_model.safetensors") ? String(a.path.dropLast("/adapter_model.safetensors".count)) : a.path
    }
    let steps = checkpoints.compactMap { p -> (Int, String)? in
        guard let s = Int(URL(fileURLWithPath: p).lastPathComponent.replacingOccurrences(of: "checkpoint-", with: "")) else { return nil }
        return (s, p)
    }
    guard let (_, checkpoint) = steps.first(where: { $0.0 == step }) else {
        throw SessionError("run \(runID) cell \(train.index) has no checkpoint at step \(step) (checkpoints at steps: \(steps.map { String($0.0) }.sorted().joined(separator: ", ")); train.save_every decides them)")
    }
    guard FileManager.default.fileExists(atPath: checkpoint + "/adapter_model.safetensors") else {
        throw SessionError("the checkpoint \(checkpoint) of run \(runID) is gone")
    }
    for o in overrides where o.kind != .train {
        throw SessionError("--set \(o.text): a branch changes train settings only (the model and data are the parent's)")
    }
    for o in overrides where o.key == "resume" || o.key == "r" || o.key == "targets" {
        throw SessionError("--set \(o.text): a branch continues the parent's adapter, so \(o.key) cannot change")
    }

    let session = NotebookSession(db: db, notebook: nil, runKind: .branch, parentRunID: runID)
    session.quiet = quiet
    var interrupted = false
    defer { session.finish(interrupted: interrupted) }
    var summary = ""
    for c in detail.cells[..<trainIndex] where (c.kind == "load" || c.kind == "format") && c.outcome == .ok {
        guard let kind = CellKind(rawValue: c.kind) else { continue }
        let cell = Cell(index: c.index, kind: kind, params: [], source: "branch of run \(runID): cell \(c.index)")
        out("cell \(c.index) (\(c.kind)): " + (try session.execute(cell, params: try cell.resolve(overrides: recordedValues(c, kind: kind)), changes: [:])))
        // The same inputs as the parent's, or the checkpoint would continue on other data.
        if let now = try db.cells(runID: try session.recorder.ensureRun()).last, now.files != c.files {
            let changed = Set(now.files.keys).union(c.files.keys).sorted().filter { now.files[$0] != c.files[$0] }
            throw SessionError("branch refused: \(changed.joined(separator: ", ")) (read by cell \(c.index) \(c.kind)) changed since run \(runID)")
        }
    }
    var values = recordedValues(train, kind: .train)
    var changes: [String: String] = [:]
    for o in overrides { values[o.key] = o.value; changes[o.key] = o.value.text }
    values["resume"] = .string(checkpoint)
    values["out"] = .string("runs/branch-\(try session.recorder.ensureRun())-of-\(runID)-step\(step)")
    changes["resume"] = checkpoint
    session.state.branching = true
    let cell = Cell(index: train.index, kind: .train, params: [], source: "branch of run \(runID) at step \(step)")
    do {
        summary = try session.execute(cell, params: try cell.resolve(overrides: values), changes: changes)
    } catch is NotebookSession.CellInterrupted {
        interrupted = true
        summary = "interrupted"
    }
    return (session.runID, summary)
}
