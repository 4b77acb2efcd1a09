import Foundation
import Notebook
import Transformer

/// `score`: mean negative log-likelihood per token and perplexity of a text, under the base
/// model or an adapter.
final class ScoreCell: SessionCell {
    let text: String?
    let file: String?
    let adapter: AdapterChoice

    init(_ p: ResolvedParams, state: SessionState) throws {
        let t = p.string("text"), f = p.string("file")
        switch (t.isEmpty, f.isEmpty) {
        case (false, true): text = t; file = nil
        case (true, false):
            let path = state.inputPath(f)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
                throw p.error("file", "\(f): no such file")
            }
            text = nil; file = path
        case (false, false): throw p.error("file", "give text or file, not both")
        case (true, true): throw p.error("text", "give the text to score (or file)")
        }
        adapter = try AdapterChoice(p, state: state)
    }

    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] {
        adapter.input + (file.map { [.file($0)] } ?? [])
    }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        let body: String
        if let text { body = text } else {
            guard let s = try? String(contentsOfFile: file!, encoding: .utf8) else {
                throw ctx.params.error("file", "\(file!): cannot read as UTF-8 text")
            }
            body = s
        }
        let (lm, adapterName) = try state.inferenceModel(adapter)
        let ids = lm.tokenizer.encode(body)
        let r = try lm.score(ids: ids)
        let w = ctx.db.metricWriter(runID: ctx.runID, cellID: ctx.cellID)
        try w.add(step: 0, name: "nll", value: r.nll)
        try w.add(step: 0, name: "perplexity", value: exp(r.nll))
        try w.add(step: 0, name: "tokens", value: Double(ids.count))
        try w.close()
        return CellResult(summary: String(format: "nll %.6f  perplexity %.4f  tokens %d  adapter %@", r.nll, exp(r.nll), ids.count, adapterName),
                          facts: ["nll": r.nll, "perplexity": exp(r.nll), "tokens": ids.count, "adapter": adapterName])
    }
}
