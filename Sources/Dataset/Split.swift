/// SplitMix64: a tiny seeded generator so the split is the same on every platform.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in 0..<n (n > 0), by rejection (no modulo bias).
    mutating func below(_ n: Int) -> Int {
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let x = next()
            if x < limit { return Int(x % bound) }
        }
    }
}

public enum ValidationSize: Sendable, Equatable {
    case fraction(Double)
    case count(Int)
}

extension Dataset {
    /// Train / validation split by a seeded Fisher–Yates shuffle of row positions. Each part
    /// keeps the file order of its rows. Both parts must be non-empty.
    public func split(validation: ValidationSize, seed: UInt64) throws -> (train: Dataset, validation: Dataset) {
        let n = rows.count
        let k: Int
        switch validation {
        case .fraction(let f):
            guard f > 0 && f < 1 else { throw DatasetError("\(source): validation fraction \(f) must be between 0 and 1") }
            k = max(1, Int((Double(n) * f).rounded()))
        case .count(let c):
            k = c
        }
        guard k >= 1 && k < n else {
            throw DatasetError("\(source): a validation split of \(k) rows leaves no training rows or no validation rows (dataset has \(n))")
        }
        var order = Array(0..<n)
        var rng = SplitMix64(state: seed)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        var isVal = [Bool](repeating: false, count: n)
        for i in order.prefix(k) { isVal[i] = true }
        var t: [Row] = [], v: [Row] = []
        for (i, r) in rows.enumerated() { if isVal[i] { v.append(r) } else { t.append(r) } }
        return (Dataset(rows: t, source: source), Dataset(rows: v, source: source))
    }
}
