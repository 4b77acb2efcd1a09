import Foundation
import Notebook
import Training

/// `eval`: the loss on the format cell's validation (or training) examples, of the base model
/// and, when the session has one, of the adapter.
final class EvalCell: SessionCell {
    let split: EvalSplit
    let maxRows: Int

    init(_ p: ResolvedParams) throws {
        split = EvalSplit(rawValue: p.string("split")) ?? .validation   // the schema's choices are the enum's cases
        maxRows = p.int("max_rows")
    }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        let lm = try state.requireModel()
        let data = try state.requireData(for: .eval)
        var seqs = split == .validation ? data.validation : data.train
        if maxRows > 0 { seqs = Array(seqs.prefix(maxRows)) }
        guard !seqs.isEmpty else {
            throw ctx.params.error("split", "the \(split.rawValue) split is empty" + (split == .validation ? " (set format.val_fraction > 0)" : ""))
        }
        let w = ctx.db.metricWriter(runID: ctx.runID, cellID: ctx.cellID)
        let base = try evaluationLoss(weights: lm.weights, adapter: nil, sequences: seqs)
        try w.add(step: 0, name: "base_eval_loss", value: base)
        var s = String(format: "base loss %.4f", base)
        if let adapter = state.adapter {
            let tuned = try evaluationLoss(weights: lm.weights, adapter: adapter, sequences: seqs)
            s += String(format: " → adapter loss %.4f", tuned)
            try w.add(step: 0, name: "eval_loss", value: tuned)
        }
        try w.close()
        return CellResult(summary: s + " on \(seqs.count) \(split.rawValue) sequences")
    }
}
