import Foundation
import Testing
import Record
#if canImport(Glibc)
import Glibc
#endif

/// The built `tunelab` binary next to this test bundle.
enum Binary {
    static let path: String = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for d in [dir, dir.deletingLastPathComponent()] {
            let p = d.appendingPathComponent("tunelab").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return dir.appendingPathComponent("tunelab").path
    }()
}

/// A writer killed with SIGKILL mid-run leaves a database that passes integrity_check and
/// holds only whole batches, including every batch it reported as committed.
@Test func killedWriterLeavesWholeBatches() throws {
    var rng = SystemRandomNumberGenerator()
    let batch = 50
    for trial in 0..<12 {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-crash-\(UUID().uuidString)")
        let db = dir.appendingPathComponent("crash.sqlite").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Binary.path)
        p.arguments = ["debug-metrics-writer", "--db", db, "--batch", "\(batch)"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        // Wait for the first commit, let it run a random while, then kill -9.
        let fh = out.fileHandleForReading
        var seen = ""
        while !seen.contains("committed") {
            let d = fh.availableData
            if d.isEmpty { break }
            seen += String(decoding: d, as: UTF8.self)
        }
        usleep(UInt32.random(in: 0..<60_000, using: &rng))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        seen += String(decoding: fh.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationReason == .uncaughtSignal, "trial \(trial): writer exited on its own: \(seen)")
        let acknowledged = seen.split(separator: "\n").compactMap { $0.hasPrefix("committed ") ? Int($0.dropFirst(10)) : nil }.max() ?? 0
        #expect(acknowledged > 0, "trial \(trial): no batch committed: \(seen)")

        let store = try ExperimentDB(path: db)
        #expect(try store.integrityCheck() == "ok", "trial \(trial)")
        let cell = try #require(seen.split(separator: "\n").first.flatMap { Int64($0.dropFirst(5)) })
        var counts: [Int] = []
        for (k, name) in ["loss", "grad_norm", "lr"].enumerated() {
            let rows = try store.metrics(cellID: cell, name: name)
            counts.append(rows.count)
            #expect(rows.map(\.step) == Array(0..<rows.count), "trial \(trial) \(name): steps not contiguous")
            #expect(rows.allSatisfy { $0.value == Double($0.step) * 0.25 + Double(k) }, "trial \(trial) \(name)")
        }
        #expect(Set(counts).count == 1, "trial \(trial): \(counts)")
        #expect(counts[0] % batch == 0, "trial \(trial): \(counts[0]) rows is not whole batches")
        // Every reported commit survived; at most one more landed before the kill.
        #expect(counts[0] >= acknowledged && counts[0] <= acknowledged + batch, "trial \(trial): \(counts[0]) rows, \(acknowledged) acknowledged")
        store.close()
        try? FileManager.default.removeItem(at: dir)
    }
}

/// A full output folder or record, and read-only places, on the tiny Llama-3 model: the run stops
/// with an error naming the file and what was being written, keeps its last complete checkpoint
/// (which resumes onto the uninterrupted run's adapter) and every acknowledged step; a record or
/// output folder that cannot be written is refused before the first step, naming it.
@Suite(.serialized) struct DiskFailureTests {
    let dir: String
    var model: String { fixtures.path + "/tiny-llama3" }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-disk-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Short rows and a short template: hundreds of steps take a second or two.
        var rows = ""
        for i in 0..<32 {
            let a = i % 7 + 1, b = i % 5 + 2
            rows += "{\"Question\": \"What is \(a) plus \(b)?\", \"Complex_CoT\": \"Counting up from \(a) by \(b) gives \(a + b).\", \"Response\": \"\(a + b)\"}\n"
        }
        try rows.write(toFile: dir + "/data.jsonl", atomically: true, encoding: .utf8)
        try "Q: {Question}\nA: <think>\n{Complex_CoT}\n</think>\n{Response}".write(toFile: dir + "/template.txt", atomically: true, encoding: .utf8)
        chmod(dir, 0o777)
    }

    /// `tunelab train` on the tiny model with a one-projection rank-1 adapter (checkpoints of a
    /// few KB), run through `prefix` (a shell with `ulimit -f`, or `setpriv` to another user).
    /// A flag in `extra` replaces the default one.
    func train(_ extra: [String], steps: Int, prefix: [String] = [], cwd: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let defaults: [(String, String)] = [("--r", "1"), ("--lora-alpha", "2"), ("--targets", "q")]
        let given = Set(extra.filter { $0.hasPrefix("--") })
        let args = ["train", "--model", model, "--data", dir + "/data.jsonl", "--template", dir + "/template.txt",
                    "--max-seq-length", "64", "--batch-size", "1", "--grad-accum", "1", "--lr", "1e-3", "--warmup-steps", "1",
                    "--threads", "2", "--eval-every", "0", "--val-fraction", "0", "--max-steps", "\(steps)", "--no-plot"]
            + defaults.filter { !given.contains($0.0) }.flatMap { [$0.0, $0.1] } + extra
        let p = Process()
        p.executableURL = URL(fileURLWithPath: prefix.first ?? Binary.path)
        p.arguments = prefix.isEmpty ? args : Array(prefix.dropFirst()) + [Binary.path] + args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd ?? dir)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// A shell that limits the size of every file the command writes to `kib` KiB (bash counts `ulimit -f` in KiB; dash in 512-byte blocks).
    func fileSizeLimit(_ kib: Int) -> [String] { ["/bin/bash", "-c", "ulimit -f \(kib) && exec \"$@\"", "bash"] }

    func acknowledged(_ stdout: String) -> Int {
        stdout.split(separator: "\n").compactMap { l in l.hasPrefix("step ") ? Int(l.dropFirst(5).prefix { $0 != "/" }) : nil }.max() ?? 0
    }

    /// The checkpoint the error names as the last complete one.
    func lastCheckpoint(_ err: String) throws -> String {
        let r = try #require(err.range(of: "the last complete checkpoint is "), "\(err)")
        return String(err[r.upperBound...].prefix { $0 != " " })
    }

    func adapter(_ out: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: out + "/adapter/adapter_model.safetensors")) }

    @Test func aFullOutputFolderStopsTheRunAndKeepsTheLastCheckpoint() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Under a 12 KiB file size limit, a checkpoint's trainer_state.json (the curve so far, ~290
        // bytes a step) stops fitting near step 40, before metrics.jsonl (~190 bytes a step) does.
        let r = try train(["--no-record", "--save-every", "10", "--out", dir + "/a"], steps: 120, prefix: fileSizeLimit(12))
        #expect(r.status == 1, "\(r.out)\n\(r.err)")
        let ack = acknowledged(r.out)
        #expect(ack >= 20 && ack < 110, "\(ack) steps printed")
        #expect(r.err.contains("writing \(dir)/a/checkpoint-\(ack) failed, nothing of it kept: ") && r.err.contains("File too large"), "\(r.err)")
        #expect(r.err.contains("training stopped at step \(ack) of 120"), "\(r.err)")
        let last = try lastCheckpoint(r.err)
        #expect(last == dir + "/a/checkpoint-\(ack - 10)")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/a")
        #expect(!left.contains("checkpoint-\(ack)") && !left.contains { $0.contains(".tmp-") }, "\(left)")
        // The kept checkpoint resumes (without the limit) onto the uninterrupted run's adapter.
        let resumed = try train(["--no-record", "--save-every", "10", "--out", dir + "/a", "--resume", last], steps: 120)
        #expect(resumed.status == 0, "\(resumed.err)")
        let full = try train(["--no-record", "--save-every", "10", "--out", dir + "/full"], steps: 120)
        #expect(full.status == 0, "\(full.err)")
        do { let same = try adapter(dir + "/a") == adapter(dir + "/full"); #expect(same) }
        // Negative control: the limit lifted, nothing stops.
        #expect(!full.err.contains("File too large") && full.out.contains("step 120/120"))
    }

    @Test func aFullMetricsFileKeepsWholeLines() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // No checkpoint before the end: metrics.jsonl reaches the 12 KiB limit near step 64.
        let r = try train(["--no-record", "--save-every", "0", "--out", dir + "/a"], steps: 200, prefix: fileSizeLimit(12))
        #expect(r.status == 1, "\(r.out)\n\(r.err)")
        let ack = acknowledged(r.out)
        #expect(ack > 30 && ack < 190, "\(ack) steps printed")
        #expect(r.err.contains("\(dir)/a/metrics.jsonl: cannot write the metrics of step \(ack + 1): File too large"), "\(r.err)")
        #expect(r.err.contains("training stopped at step \(ack + 1) of 200; no checkpoint was completed"), "\(r.err)")
        // The line cut short by the limit was taken back: whole lines, one per printed step.
        let lines = try String(contentsOfFile: dir + "/a/metrics.jsonl", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == ack + 1 && lines.last == "", "\(lines.count) lines for \(ack) steps")
        #expect(lines.dropLast().allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
    }

    @Test func aFullRecordStopsTheRunAndKeepsEveryAcknowledgedStep() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/record.sqlite"
        #expect(try train(["--db", db, "--out", dir + "/first"], steps: 1).status == 0)
        // The record's write-ahead log starts empty and grows by a few pages per committed step:
        // 160 KiB hold the load and format cells' entries and a few steps.
        let r = try train(["--db", db, "--save-every", "2", "--out", dir + "/a"], steps: 400, prefix: fileSizeLimit(160))
        #expect(r.status == 1, "\(r.out)\n\(r.err)")
        #expect(r.err.contains("failed on \(db): disk I/O error (") && r.err.contains("ulimit -f"), "\(r.err)")
        let ack = acknowledged(r.out)
        // Stopped at the step whose commit failed (or, when a checkpoint's entry was the write that
        // failed, at that checkpoint's step, which was committed and printed).
        #expect(ack >= 2 && ack < 400, "\(ack) steps printed")
        #expect(r.err.contains("training stopped at step \(ack + 1) of 400") || r.err.contains("training stopped at step \(ack) of 400"), "\(ack): \(r.err)")
        let record = try ExperimentDB(path: db)
        #expect(try record.integrityCheck() == "ok")
        let cell = try #require(try record.run(2)?.cells.last)
        let steps = try record.metrics(cellID: cell.id, name: "loss").map(\.step)
        #expect(steps == Array(1...ack), "recorded \(steps.count) steps, \(ack) acknowledged")
        let last = try lastCheckpoint(r.err)
        #expect(last == dir + "/a/checkpoint-\(ack / 2 * 2)")
        #expect(FileManager.default.fileExists(atPath: last + "/trainer_state.json"))
    }

    /// A real full file system, where this machine lets the test mount one (root with
    /// CAP_SYS_ADMIN): the checkpoint that does not fit is dropped whole, the previous one kept.
    @Test func aFullFileSystemKeepsTheLastCheckpoint() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mnt = dir + "/small"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=100k", "tmpfs", mnt]
        mount.standardError = FileHandle.nullDevice
        guard (try? mount.run()) != nil else { return }
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { print("aFullFileSystemKeepsTheLastCheckpoint: no tmpfs mount here; covered by the ulimit tests"); return }
        defer { _ = try? Process.run(URL(fileURLWithPath: "/bin/umount"), arguments: [mnt]).waitUntilExit() }
        // r 4 on q,k,v,o: ~60 KiB per checkpoint, so the first fits in 100 KiB and the second does not.
        let r = try train(["--db", dir + "/record.sqlite", "--r", "4", "--targets", "q,k,v,o", "--save-every", "10", "--out", mnt + "/a"], steps: 60)
        #expect(r.status == 1, "\(r.out)\n\(r.err)")
        #expect(r.err.contains("No space left on device") && r.err.contains("writing \(mnt)/a/checkpoint-"), "\(r.err)")
        let last = try lastCheckpoint(r.err)
        #expect(FileManager.default.fileExists(atPath: last + "/trainer_state.json"), "\(last)")
        let left = try FileManager.default.contentsOfDirectory(atPath: mnt + "/a")
        #expect(!left.contains { $0.contains(".tmp-") }, "\(left)")
        let record = try ExperimentDB(path: dir + "/record.sqlite")
        #expect(try record.integrityCheck() == "ok")
        let run = try #require(try record.run(1))
        #expect(run.summary.status == .failed)
        #expect(try record.metrics(cellID: run.cells[2].id, name: "loss").count == acknowledged(r.out))
    }

    /// Runs `tunelab` as user nobody when the tests run as root (root writes through permissions).
    var asOtherUser: [String]? {
        guard getuid() == 0 else { return [] }
        return FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
            ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : nil
    }

    @Test func readOnlyPlacesAreRefusedBeforeTraining() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard let prefix = asOtherUser else { print("readOnlyPlacesAreRefusedBeforeTraining: root without setpriv, skipped"); return }
        let fm = FileManager.default
        // A read-only output folder, and a new one inside it.
        try fm.createDirectory(atPath: dir + "/ro", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o555])
        let writable = dir + "/rw"
        try fm.createDirectory(atPath: writable, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        for out in [dir + "/ro", dir + "/ro/new"] {
            let r = try train(["--db", writable + "/record.sqlite", "--out", out], steps: 3, prefix: prefix, cwd: writable)
            #expect(r.status == 1 && r.err.contains("--out (train.out): \(out)") && r.err.contains("not writable"), "\(r.err)")
            #expect(!r.out.contains("step 1/"))
        }
        // A record the user cannot write: a read-only file, and a record in a read-only folder.
        #expect(try train(["--db", writable + "/ro.sqlite", "--out", writable + "/x"], steps: 1).status == 0)
        chmod(writable + "/ro.sqlite", 0o444)
        let r1 = try train(["--db", writable + "/ro.sqlite", "--out", writable + "/a"], steps: 3, prefix: prefix, cwd: writable)
        #expect(r1.status == 1 && r1.err.contains("\(writable)/ro.sqlite: the experiment record is read-only"), "\(r1.err)")
        try fm.copyItem(atPath: writable + "/ro.sqlite", toPath: dir + "/ro-folder.sqlite")
        try fm.createDirectory(atPath: dir + "/rodb", withIntermediateDirectories: true)
        try fm.moveItem(atPath: dir + "/ro-folder.sqlite", toPath: dir + "/rodb/record.sqlite")
        chmod(dir + "/rodb/record.sqlite", 0o666)
        chmod(dir + "/rodb", 0o555)
        let r2 = try train(["--db", dir + "/rodb/record.sqlite", "--out", writable + "/b"], steps: 3, prefix: prefix, cwd: writable)
        #expect(r2.status == 1 && r2.err.contains("\(dir)/rodb/record.sqlite") && r2.err.contains("read-only"), "\(r2.err)")
        for r in [r1, r2] { #expect(!r.out.contains("step 1/")) }
        #expect(!fm.fileExists(atPath: writable + "/a") && !fm.fileExists(atPath: writable + "/b"))
        // Negative control: the same commands with a writable record and folder train.
        let ok = try train(["--db", writable + "/record.sqlite", "--out", writable + "/c"], steps: 2, prefix: prefix, cwd: writable)
        #expect(ok.status == 0 && ok.out.contains("step 2/2"), "\(ok.err)")
    }
}
