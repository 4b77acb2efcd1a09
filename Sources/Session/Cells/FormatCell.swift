import Foundation
import Dataset
import Hub
import Notebook

/// `format`: load a data set, apply the prompt template, tokenise (EOS appended and trained),
/// split off validation rows, pack.
final class FormatCell: SessionCell {
    let config: FormatConfig
    /// The data file's local path, resolved (downloaded for `hf:`) when inputs are recorded.
    private var dataPath: String?

    var seed: UInt64? { config.seed }

    init(_ p: ResolvedParams, state: SessionState) throws {
        guard let layout = RecordLayout(rawValue: p.string("format")) else {
            throw p.error("format", "unknown layout \"\(p.string("format"))\"")   // the schema's choices make this unreachable
        }
        let columns = p.string("columns")
        if layout == .mapping {
            do { _ = try layout.format(columns: columns) } catch { throw p.error("columns", "\(error)") }
        } else if !columns.isEmpty {
            throw p.error("columns", "only used with format = \"mapping\" (format is \"\(layout.rawValue)\")")
        }
        let data = p.string("data")
        if data.isEmpty { throw p.error("data", "empty: give a JSON/JSONL file or hf:org/name/file") }
        do { _ = try HubClient.parseChecked(data) } catch { throw p.error("data", "\(error)") }
        let templateText = p.string("template_text")
        let template = templateText.isEmpty ? state.inputPath(p.string("template")) : ""
        if templateText.isEmpty {
            if p.string("template").isEmpty { throw p.error("template", "empty: give a template file or template_text") }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: template, isDirectory: &isDir), !isDir.boolValue else {
                throw p.error("template", "\(p.string("template")): no such template file (looked in \(FileManager.default.currentDirectoryPath), above the notebook and in the TuneLab checkout)")
            }
        }
        config = FormatConfig(data: state.inputPath(data), layout: layout, columns: columns, split: p.string("split"),
                              template: template, templateText: templateText, maxSeqLength: p.int("max_seq_length"),
                              trainOn: TrainOn(rawValue: p.string("train_on")) ?? .response, packing: p.bool("packing"),
                              valFraction: p.double("val_fraction"), seed: UInt64(p.int("seed")))
        if !config.split.isEmpty {
            // The syntax only (the row count is known when the file is read).
            do { _ = try Dataset.sliceRange(config.split, count: 1 << 40) } catch { throw p.error("split", "\(error)") }
        }
    }

    func localDataPath() throws -> String {
        if let dataPath { return dataPath }
        let p = try resolveDataPath(config.data)
        dataPath = p
        return p
    }

    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] {
        var out: [CellInput] = []
        let path = try localDataPath()
        if let pin = try HubPin.make(config.data, localPath: path, recorder: recorder) { out.append(.hub(pin)) } else { out.append(.file(path)) }
        if config.templateText.isEmpty { out.append(.file(config.template)) }
        return out
    }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        let lm = try state.requireModel()
        let d = try prepareData(config, tokenizer: lm.tokenizer, dataPath: try localDataPath())
        state.data = d
        // The lint is recorded with the cell: its findings, and the length histogram as a PNG.
        let lint = d.lint
        let findings = String(decoding: (try? JSONEncoder().encode(lint.findings)) ?? Data("[]".utf8), as: UTF8.self)
        try ctx.db.setCellDetails(ctx.cellID, ["lint": lint.text, "lint_findings": findings,
                                               "lint_errors": "\(lint.errors.count)", "lint_warnings": "\(lint.warnings.count)"])
        let png = "runs/run-\(ctx.runID)-cell\(ctx.index)-lengths.png"
        try? FileManager.default.createDirectory(atPath: "runs", withIntermediateDirectories: true)
        try plotLengthHistogram(lint, path: png, title: "run \(ctx.runID): tokens per example")
        try ctx.recorder.artifact(ctx.cellID, png, kind: "lengths-histogram")
        if !state.quiet && !lint.findings.isEmpty { print(lint.findings.map(\.line).joined(separator: "\n")) }
        var summary = d.summary
        if !lint.findings.isEmpty { summary += "; lint: \(lint.errors.count) errors, \(lint.warnings.count) warnings" }
        return CellResult(summary: summary, facts: ["lint": lint.text, "errors": lint.errors.count, "warnings": lint.warnings.count])
    }
}
