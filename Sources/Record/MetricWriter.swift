/// Buffers one cell's metric rows and writes them in batches (one transaction each), so a
/// training loop pays for a commit every `batchSize` rows or `interval` seconds, not per step.
/// Use from one thread at a time. Rows still buffered are flushed by `close()` (and, best
/// effort, on deinit); a killed process loses at most the unflushed rows, never part of a batch.
/// The train and dpo cells `flush()` after every step, before printing it: a printed step is a
/// committed one (a WAL commit without fsync costs far less than a step).
public final class MetricWriter {
    struct Row {
        let step: Int
        let name: String
        let value: Double
    }

    /// Parameters: run_id, cell_id, step, name, value. Also used by the crash-safety test.
    static let insertSQL = "INSERT OR REPLACE INTO metrics (run_id, cell_id, step, name, value) VALUES (?, ?, ?, ?, ?)"

    public let runID: Int64
    public let cellID: Int64
    private let db: ExperimentDB
    private let batchSize: Int
    private let interval: Duration
    private var buffer: [Row] = []
    private var lastFlush = ContinuousClock.now
    private var closed = false

    init(db: ExperimentDB, runID: Int64, cellID: Int64, batchSize: Int, interval: Double) {
        self.db = db
        self.runID = runID
        self.cellID = cellID
        self.batchSize = max(1, batchSize)
        self.interval = .milliseconds(Int64(max(0, interval) * 1000))
        buffer.reserveCapacity(self.batchSize)
    }

    deinit { try? flush() }

    /// Queues one value. It is stored as a double, which holds every Float exactly, so Float
    /// metrics read back bit-exactly via `Float(value)` (except NaN payloads and -0.0, see
    /// `ExperimentDB.metrics(runID:name:)`).
    public func add<F: BinaryFloatingPoint>(step: Int, name: String, value: F) throws {
        guard !closed else { throw RecordError("metric writer of cell \(cellID) is closed") }
        buffer.append(Row(step: step, name: name, value: Double(value)))
        if buffer.count >= batchSize || ContinuousClock.now - lastFlush >= interval { try flush() }
    }

    /// Queues several metrics of one step (e.g. loss, grad_norm, lr) so they land in the same batch.
    public func add(step: Int, _ values: KeyValuePairs<String, Double>) throws {
        guard !closed else { throw RecordError("metric writer of cell \(cellID) is closed") }
        for (name, value) in values { buffer.append(Row(step: step, name: name, value: value)) }
        if buffer.count >= batchSize || ContinuousClock.now - lastFlush >= interval { try flush() }
    }

    /// Writes buffered rows now, in one transaction.
    public func flush() throws {
        lastFlush = ContinuousClock.now
        guard !buffer.isEmpty else { return }
        try db.insertMetrics(runID: runID, cellID: cellID, rows: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and refuses further rows.
    public func close() throws {
        try flush()
        closed = true
    }
}
