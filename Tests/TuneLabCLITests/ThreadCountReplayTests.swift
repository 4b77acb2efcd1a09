import Foundation
import Testing
@testable import Record

/// The default notebook (shortened: 3 steps, short answers) on SmolLM2: recorded with the thread
/// count that actually ran, and replayed bit for bit at 1, 2 and 3 worker threads — training
/// curves, eval losses, scored answers, generated tokens and the GGUF export's round trip alike.
@Suite(.serialized) struct ThreadCountReplayTests {
    @Test func defaultNotebookReplaysBitIdenticallyAtOneTwoAndThreeThreads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-threads-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let repo = fixtures.deletingLastPathComponent().deletingLastPathComponent().path
        let db = dir + "/r.sqlite"
        let r = try tunelab(["run", repo + "/notebooks/medical-cot.md", "--db", db, "--set", "load.threads=1",
                             "--set", "train.max_steps=3", "--set", "train.eval_every=1", "--set", "train.save_every=0",
                             "--set", "format.max_seq_length=256", "--set", "infer.max_new_tokens=12", "--set", "eval.max_new_tokens=12"], stdin: "", cwd: dir)
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        let record = try ExperimentDB(path: db)
        let run = try #require(try record.run(1))
        // What ran, not what the process started with: the load cell asked for one thread.
        #expect(run.environment.threads == 1)
        #expect(try record.metrics(runID: 1, name: "eval_loss").count >= 3)
        for threads in [1, 2, 3] {
            let rep = try tunelab(["replay", "1", "--db", db, "--threads", "\(threads)"], stdin: "", cwd: dir)
            #expect(rep.status == 0 && rep.out.contains("bit-identical"), "threads \(threads): \(rep.out)\n\(rep.err)")
            #expect(rep.out.contains(", 4 generations ("), "\(rep.out)")   // 2 infer cells, 2 eval answers
        }
    }
}
