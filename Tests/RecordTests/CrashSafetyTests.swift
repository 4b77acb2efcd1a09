import CSQLite3
import Foundation
import Testing
@testable import Record
#if canImport(Glibc)
import Glibc
#endif

/// A process killed with SIGKILL in the middle of writing metrics must leave a database that
/// passes integrity_check and holds only whole batches, including every batch it had committed.
extension DatabaseTests {
@Suite struct CrashSafetyTests {
    static let batch = 50
    static let names = ["loss", "grad_norm", "lr"]

    @Test func killedWriterLeavesWholeBatches() throws {
        var rng = SplitMix(seed: 2024)
        var completed = 0, stuck = 0
        for trial in 0..<20 {
            let tmp = try TempDir()
            let path = tmp.path("crash.sqlite")
            let setup = try ExperimentDB(path: path)
            let run = try setup.createRun(environment: RunEnvironment(toolVersion: "test"))
            let cell = try setup.startCell(runID: run, cellIndex: 0, kind: "train")
            setup.close()

            let delayMicros = UInt32(rng.next() % 40_000)
            guard let result = try Self.killWriterMidway(path: path, runID: run, cellID: cell, delayMicros: delayMicros) else {
                stuck += 1
                continue
            }
            completed += 1

            let db = try ExperimentDB(path: path)
            #expect(try db.scalar("PRAGMA integrity_check") == "ok", "trial \(trial)")
            var counts: [Int] = []
            for name in Self.names {
                let rows = try db.metrics(cellID: cell, name: name)
                counts.append(rows.count)
                #expect(rows.map(\.step) == Array(0..<rows.count), "trial \(trial) \(name): steps not contiguous")
                #expect(rows.allSatisfy { $0.value == Self.value(step: $0.step, name: name) }, "trial \(trial) \(name)")
            }
            let n = counts[0]
            #expect(counts.allSatisfy { $0 == n }, "trial \(trial): \(counts)")
            #expect(n % Self.batch == 0, "trial \(trial): \(n) rows is not whole batches")
            // Every acknowledged commit survived; at most one more landed before the kill.
            #expect(n / Self.batch >= result.acknowledged && n / Self.batch <= result.acknowledged + 1,
                    "trial \(trial): \(n / Self.batch) batches on disk, \(result.acknowledged) acknowledged")
            #expect(result.signal == SIGKILL, "trial \(trial): child ended by \(result.signal), not killed")
        }
        // A child can only get stuck if another thread held a lock at fork time; it must be rare.
        #expect(completed >= 18, "\(stuck) of 20 children never committed a batch")
    }

    static func value(step: Int, name: String) -> Double {
        Double(step) * 0.25 + Double(names.firstIndex(of: name) ?? 0)
    }

    /// Forks a child that appends batches of metric rows forever (acknowledging each commit with
    /// a byte on a pipe), waits for its first commit, sleeps `delayMicros`, then SIGKILLs it.
    /// Returns nil if the child never committed within 20 s.
    static func killWriterMidway(path: String, runID: Int64, cellID: Int64, delayMicros: UInt32) throws
        -> (acknowledged: Int, signal: Int32)?
    {
        // Everything the child touches is prepared before fork: it makes only C calls.
        let cPath = strdup(path)!, cPragmas = strdup(Schema.connectionPragmas)!, cInsert = strdup(MetricWriter.insertSQL)!
        let cNames = names.map { strdup($0)! }
        let cBegin = strdup("BEGIN IMMEDIATE")!, cCommit = strdup("COMMIT")!
        defer { free(cPath); free(cPragmas); free(cInsert); free(cBegin); free(cCommit); cNames.forEach { free($0) } }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw RecordError("pipe failed") }

        let pid = fork()
        if pid == 0 {
            close(fds[0])
            childWriteForever(path: cPath, pragmas: cPragmas, insert: cInsert, begin: cBegin, commit: cCommit, names: cNames,
                              runID: runID, cellID: cellID, ackFD: fds[1])
        }
        close(fds[1])
        defer { close(fds[0]) }
        guard pid > 0 else { throw RecordError("fork failed") }

        var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        var byte: UInt8 = 0
        var acknowledged = 0
        let ready = poll(&pfd, 1, 20_000) == 1 && read(fds[0], &byte, 1) == 1
        if ready {
            acknowledged = 1
            usleep(delayMicros)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard ready else { return nil }
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {  // the write end is closed now: read the remaining acknowledgements to EOF
            let n = read(fds[0], &buf, buf.count)
            if n <= 0 { break }
            acknowledged += n
        }
        return (acknowledged, status & 0x7f)
    }

    /// The child: open, then BEGIN IMMEDIATE / batch of inserts / COMMIT / acknowledge, forever.
    static func childWriteForever(path: UnsafeMutablePointer<CChar>, pragmas: UnsafeMutablePointer<CChar>,
                                  insert: UnsafeMutablePointer<CChar>, begin: UnsafeMutablePointer<CChar>,
                                  commit: UnsafeMutablePointer<CChar>, names: [UnsafeMutablePointer<CChar>], runID: Int64, cellID: Int64, ackFD: Int32) -> Never {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK else { _exit(10) }
        sqlite3_busy_timeout(db, 10_000)
        guard sqlite3_exec(db, pragmas, nil, nil, nil) == SQLITE_OK else { _exit(11) }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, insert, -1, &stmt, nil) == SQLITE_OK else { _exit(12) }
        var ack: UInt8 = 1
        var step = 0
        while true {
            guard sqlite3_exec(db, begin, nil, nil, nil) == SQLITE_OK else { _exit(13) }
            for _ in 0..<batch {
                for k in 0..<names.count {
                    sqlite3_reset(stmt)
                    sqlite3_bind_int64(stmt, 1, runID)
                    sqlite3_bind_int64(stmt, 2, cellID)
                    sqlite3_bind_int64(stmt, 3, Int64(step))
                    sqlite3_bind_text(stmt, 4, names[k], -1, nil)  // nil destructor = SQLITE_STATIC
                    sqlite3_bind_double(stmt, 5, Double(step) * 0.25 + Double(k))
                    guard sqlite3_step(stmt) == SQLITE_DONE else { _exit(14) }
                }
                step += 1
            }
            guard sqlite3_exec(db, commit, nil, nil, nil) == SQLITE_OK else { _exit(15) }
            guard write(ackFD, &ack, 1) == 1 else { _exit(16) }
        }
    }
}
}
