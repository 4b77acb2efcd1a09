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
