import Dataset

/// One sequence as the trainer sees it: token ids, next-token targets already shifted
/// (`targets[t]` is what position t must predict, or −100) and the segments that attend only
/// within themselves (one per packed example; positions restart at 0 in each).
public struct TrainSequence: Sendable, Equatable {
    public var ids: [Int]
    public var targets: [Int]
    /// (start, length) of each attention segment, covering ids in order.
    public var segments: [Range<Int>]

    /// From HF-style labels (labels[t] = token at t where trained): targets[t] = labels[t + 1]
    /// within a segment; the last position of every segment predicts nothing.
    public init(ids: [Int], labels: [Int], segmentStarts: [Int] = [0]) {
        precondition(ids.count == labels.count, "ids and labels differ in length")
        self.ids = ids
        let bounds = segmentStarts + [ids.count]
        segments = zip(bounds, bounds.dropFirst()).map { $0..<$1 }.filter { !$0.isEmpty }
        var t = [Int](repeating: ignoreLabel, count: ids.count)
        for s in segments {
            for i in s.lowerBound..<(s.upperBound - 1) { t[i] = labels[i + 1] }
        }
        targets = t
    }

    public init(_ e: Example) { self.init(ids: e.ids, labels: e.labels) }
    public init(_ p: PackedSequence) { self.init(ids: p.ids, labels: p.labels, segmentStarts: p.starts) }

    /// Positions whose prediction is trained.
    public var trainedTokens: Int { targets.reduce(0) { $0 + ($1 == ignoreLabel ? 0 : 1) } }
}
