import Foundation
import Kernels
import Testing
@testable import Record

/// Every cell kind run from a notebook (eval, score and both exports included), recorded, and
/// the run replayed bit for bit.
@Suite(.serialized) struct CellKindsNotebookTests {
    @Test func evalScoreAndExportCellsRunAndReplay() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-kinds-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let repo = fixtures.deletingLastPathComponent().deletingLastPathComponent().path
        let model = fixtures.path + "/tiny-llama3"
        let nb = dir + "/kinds.md", db = dir + "/r.sqlite"
        try """
        # Every kind

        ```load
        model = "\(model)"
        threads = 1
        ```

        ```format
        data = "\(repo)/notebooks/data/medical-cot-sample.jsonl"
        max_seq_length = 400
        ```

        ```eval
        max_rows = 2
        ```

        ```train
        r = 4
        batch_size = 2
        grad_accum = 1
        lr = 1e-3
        max_steps = 2
        save_every = 0
        out = "\(dir)/train"
        ```

        ```eval
        ```

        ```score
        text = "A patient has fever and flank pain."
        ```

        ```export
        out = "\(dir)/adapter"
        ```

        ```export
        merge = true
        dtype = "f16"
        out = "\(dir)/merged"
        ```
        """.write(toFile: nb, atomically: true, encoding: .utf8)
        let r = try tunelab(["run", nb, "--db", db], stdin: "", cwd: dir)
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        let record = try ExperimentDB(path: db)
        let run = try #require(try record.run(1))
        #expect(run.cells.map(\.kind) == ["load", "format", "eval", "train", "eval", "score", "export", "export"])
        #expect(run.cells.allSatisfy { $0.outcome == .ok })
        // Before training only the base is measured; after, base and adapter, the adapter lower.
        #expect(try record.metricNames(cellID: run.cells[2].id) == ["base_eval_loss"])
        let base = try #require(try record.metrics(cellID: run.cells[4].id, name: "base_eval_loss").first?.value)
        let tuned = try #require(try record.metrics(cellID: run.cells[4].id, name: "eval_loss").first?.value)
        #expect(tuned < base, "adapter \(tuned) vs base \(base)")
        #expect(try record.metrics(cellID: run.cells[5].id, name: "nll").first?.value.isFinite == true)
        // Exports: recorded with their sha256; the adapter names the model it was trained on.
        let adapterFiles = try record.artifacts(cellID: run.cells[6].id)
        #expect(adapterFiles.contains { $0.kind == "adapter" && $0.sha256 == (try? sha256(file: dir + "/adapter/adapter_model.safetensors")) })
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter/adapter_config.json"))) as? [String: Any])
        #expect(config["base_model_name_or_path"] as? String == model, "\(config["base_model_name_or_path"] ?? "-")")
        #expect(try record.artifacts(cellID: run.cells[7].id).contains { $0.kind == "merged-model" })
        #expect(FileManager.default.fileExists(atPath: dir + "/merged/config.json"))
        // An existing export folder is refused before anything is written.
        let again = try tunelab(["run", nb, "--db", db], stdin: "", cwd: dir)
        #expect(again.status != 0 && (again.out + again.err).contains("export.out: \(dir)/adapter already exists"), "\(again.err)")
        // The whole run replays bit for bit (exports go to fresh folders).
        let rep = try tunelab(["replay", "1", "--db", db], stdin: "", cwd: dir)
        #expect(rep.status == 0 && rep.out.contains("bit-identical"), "\(rep.out)\n\(rep.err)")
        #expect(rep.out.contains("nll") && rep.out.contains("base_eval_loss"), "\(rep.out)")
    }
}
