import CSQLite3
import Foundation

/// Error from the experiment record: says what failed and on which database file.
public struct RecordError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Thin owner of one `sqlite3*` connection. Not thread-safe: `ExperimentDB` serialises access.
///
/// Raw sqlite3 rather than GRDB: one fewer dependency tree to build and audit, and
/// inserts measured ~1.7× faster here (0.85 M vs 0.5 M rows/s, see shared notes).
final class Connection {
    let handle: OpaquePointer
    let path: String
    private var statements: [String: Statement] = [:]

    init(path: String) throws {
        var db: OpaquePointer?
        // NOMUTEX: ExperimentDB holds its own lock around every use of the connection.
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let db { sqlite3_close_v2(db) }
            throw RecordError("cannot open experiment database \(path): \(msg)")
        }
        handle = db
        self.path = path
    }

    deinit {
        statements.removeAll()  // finalize before closing
        sqlite3_close_v2(handle)
    }

    func error(_ what: String) -> RecordError {
        RecordError("\(what) failed on \(path): \(message(String(cString: sqlite3_errmsg(handle))))")
    }

    /// SQLite's message, with the system's reason when a file operation failed ("disk I/O
    /// error" says nothing of a full disk or a file size limit; errno does).
    /// SQLite does not always keep errno (a short write is "full" with none), so when it has
    /// none a file size limit on this process, or a full file system, is named instead.
    func message(_ sqliteMessage: String) -> String {
        let code = sqlite3_extended_errcode(handle) & 0xff
        guard [SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_READONLY].contains(code) else { return sqliteMessage }
        let sys = sqlite3_system_errno(handle)
        if sys != 0 { return "\(sqliteMessage) (\(String(cString: strerror(sys))))" }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            return "\(sqliteMessage) (this process may not write files past \(limit.rlim_cur) bytes: ulimit -f)"
        }
        var fs = statvfs()
        if statvfs(URL(fileURLWithPath: path).deletingLastPathComponent().path, &fs) == 0, fs.f_bavail == 0 {
            return "\(sqliteMessage) (no space left on the device)"
        }
        return sqliteMessage
    }

    /// Runs one or more SQL statements without parameters.
    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &err) != SQLITE_OK {
            let msg = message(err.map { String(cString: $0) } ?? "unknown error")
            sqlite3_free(err)
            let head = sql.split(separator: "\n").first.map(String.init) ?? sql
            throw RecordError("SQL `\(head.prefix(80))` failed on \(path): \(msg)")
        }
    }

    /// A cached prepared statement, reset and with bindings cleared.
    func prepare(_ sql: String) throws -> Statement {
        if let s = statements[sql] {
            sqlite3_reset(s.handle)
            sqlite3_clear_bindings(s.handle)
            return s
        }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw error("preparing `\(sql.prefix(80))`")
        }
        let s = Statement(handle: stmt, connection: self)
        statements[sql] = s
        return s
    }

    /// Runs `body` inside BEGIN IMMEDIATE … COMMIT (rolled back if it throws).
    /// IMMEDIATE takes the write lock up front, so busy_timeout applies instead of a
    /// deadlock-style SQLITE_BUSY when a read transaction would need upgrading.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try exec("COMMIT")
            return result
        } catch {
            try? exec("ROLLBACK")
            throw error
        }
    }

    /// Runs a statement that returns no rows.
    func execute(_ sql: String, _ values: [SQLValue?] = []) throws {
        let s = try prepare(sql)
        defer { sqlite3_reset(s.handle) }
        s.bindAll(values)
        try s.run()
    }

    /// Runs a query and maps every row. The statement is reset afterwards so it holds no
    /// read snapshot (an open snapshot would stop WAL checkpoints).
    func query<T>(_ sql: String, _ values: [SQLValue?] = [], row: (Statement) throws -> T) throws -> [T] {
        let s = try prepare(sql)
        defer { sqlite3_reset(s.handle) }
        s.bindAll(values)
        var out: [T] = []
        while try s.step() { out.append(try row(s)) }
        return out
    }

    var lastInsertID: Int64 { sqlite3_last_insert_rowid(handle) }
    var changes: Int { Int(sqlite3_changes(handle)) }
}

final class Statement {
    let handle: OpaquePointer
    unowned let connection: Connection

    init(handle: OpaquePointer, connection: Connection) {
        self.handle = handle
        self.connection = connection
    }
    deinit { sqlite3_finalize(handle) }

    func bindAll(_ values: [SQLValue?]) {
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            switch v {
            case nil: sqlite3_bind_null(handle, idx)
            case .int(let x): sqlite3_bind_int64(handle, idx, x)
            case .double(let x): sqlite3_bind_double(handle, idx, x)  // NaN is stored as NULL by SQLite
            case .text(let s): sqlite3_bind_text(handle, idx, s, -1, tunelab_sqlite_transient())
            }
        }
    }

    /// Steps once; true when a row is available.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error("statement `\(String(cString: sqlite3_sql(handle)).prefix(80))`")
        }
    }

    /// Steps to completion of a statement that returns no rows.
    func run() throws { while try step() {} }

    func int(_ col: Int32) -> Int64? {
        sqlite3_column_type(handle, col) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, col)
    }
    func double(_ col: Int32) -> Double? {
        sqlite3_column_type(handle, col) == SQLITE_NULL ? nil : sqlite3_column_double(handle, col)
    }
    func text(_ col: Int32) -> String? {
        guard sqlite3_column_type(handle, col) != SQLITE_NULL, let p = sqlite3_column_text(handle, col) else { return nil }
        return String(cString: p)
    }
}

enum SQLValue {
    case int(Int64)
    case double(Double)
    case text(String)
}

extension Optional where Wrapped == String {
    var sql: SQLValue? { map { .text($0) } }
}
extension Optional where Wrapped == Int {
    var sql: SQLValue? { map { .int(Int64($0)) } }
}
extension Optional where Wrapped == Double {
    var sql: SQLValue? { map { .double($0) } }
}
