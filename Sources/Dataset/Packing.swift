/// Several examples concatenated into one training sequence.
///
/// Attention is NOT isolated by this type alone: a plain causal mask lets a packed example
/// attend to the ones before it in the sequence. `positions` restart at 0 for each example
/// and `starts` gives the boundaries, so a trainer can build a block-diagonal mask (or use
/// the restarted positions as HF's position_ids-based packing does).
public struct PackedSequence: Sendable, Equatable {
    public var ids: [Int]
    public var labels: [Int]
    /// Position id of each token within its own example.
    public var positions: [Int]
    /// Offset of each example in the sequence.
    public var starts: [Int]
    /// Source row of each example.
    public var rows: [Int]
}

/// Greedy first-fit in order: examples are never split; a sequence is closed when the next
/// example does not fit in `maxLength`. Examples longer than `maxLength` are an error
/// (truncate them first with `TokenizeOptions.maxSeqLength`).
public func pack(_ examples: [Example], maxLength: Int) throws -> [PackedSequence] {
    guard maxLength > 0 else { throw DatasetError("packing length \(maxLength) must be positive") }
    var out: [PackedSequence] = []
    var cur = PackedSequence(ids: [], labels: [], positions: [], starts: [], rows: [])
    for e in examples {
        guard e.ids.count <= maxLength else {
            throw DatasetError("row \(e.row): example of \(e.ids.count) tokens is longer than the packing length \(maxLength)")
        }
        if cur.ids.count + e.ids.count > maxLength {
            out.append(cur)
            cur = PackedSequence(ids: [], labels: [], positions: [], starts: [], rows: [])
        }
        cur.starts.append(cur.ids.count)
        cur.rows.append(e.row)
        cur.ids += e.ids
        cur.labels += e.labels
        cur.positions += 0..<e.ids.count
    }
    if !cur.ids.isEmpty { out.append(cur) }
    return out
}
