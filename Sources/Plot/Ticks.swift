import Foundation

/// One axis: the data range in plotting space (log10 of the data for a log axis) and its ticks.
struct Axis {
    struct Tick {
        let value: Double  // data space
        let label: String?  // nil for an unlabelled minor tick
    }

    let log: Bool
    let lo: Double
    let hi: Double
    var ticks: [Tick] = []

    /// Plotting-space coordinate, nil for values the axis cannot show (non-finite, ≤ 0 on log).
    @inline(__always)
    func transform(_ v: Double) -> Double? {
        guard v.isFinite else { return nil }
        if log { return v > 0 ? log10(v) : nil }
        return v
    }

    /// Position of `v` in 0…1 along the axis. Halves keep hi - lo finite for extreme data.
    @inline(__always)
    func fraction(_ v: Double) -> Double? {
        guard let t = transform(v) else { return nil }
        let span = hi / 2 - lo / 2
        return span > 0 ? (t / 2 - lo / 2) / span : 0.5
    }
}

enum Ticks {
    /// Range of the finite values (in plotting space), padded by `padding` of its span; a flat
    /// or empty range is widened so the axis still has extent.
    static func range(_ values: [Double], padding: Double, log: Bool) -> (Double, Double) {
        guard let lo = values.min(), let hi = values.max() else { return log ? (0, 1) : (0, 1) }
        if hi > lo {
            let span = hi / 2 - lo / 2  // half span: stays finite
            let pad = span * 2 * padding
            let a = lo - pad, b = hi + pad
            return (a.isFinite ? a : lo, b.isFinite ? b : hi)
        }
        if log { return (lo - 0.1, hi + 0.1) }
        let w = lo == 0 ? 1 : abs(lo) * 0.05
        return (lo - w, hi + w)
    }

    /// Smallest 1-2-5 × 10^k step ≥ `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw.isFinite, raw > 0 else { return 1 }
        let exp = floor(log10(raw))
        let base = pow(10, exp)
        let f = raw / base
        let m: Double = f <= 1.000001 ? 1 : f <= 2.000001 ? 2 : f <= 5.000001 ? 5 : 10
        return m * base
    }

    /// Linear ticks on 1-2-5 steps, at most `maxTicks` of them, inside [lo, hi].
    static func linear(lo: Double, hi: Double, maxTicks: Int, minStep: Double = 0) -> [Axis.Tick] {
        guard lo.isFinite, hi.isFinite, hi > lo else { return [] }
        var step = niceStep(max((hi / 2 - lo / 2) / Double(max(1, maxTicks)) * 2, minStep))  // halves: no overflow
        for _ in 0..<8 {
            let first = (lo / step).rounded(.up), last = (hi / step).rounded(.down)
            let count = last - first + 1
            if count <= Double(max(1, maxTicks)) || !count.isFinite { break }
            step = niceStep(step.isFinite && step < .greatestFiniteMagnitude / 2 ? step * 1.5 : step)
        }
        let first = (lo / step).rounded(.up), last = (hi / step).rounded(.down)
        guard first.isFinite, last.isFinite, last >= first, last - first < 200 else { return [] }
        // Tick values must be distinguishable at this magnitude, or labels would repeat.
        guard step > max(abs(lo), abs(hi)).ulp * 16 else { return [] }
        return stride(from: first, through: last, by: 1).map { k in
            let v = k * step
            return Axis.Tick(value: v, label: format(v, step: step))
        }
    }

    /// Log-axis ticks for log10 range [lo, hi]: decades when the range spans two or more,
    /// otherwise 1-2-5 (then 1…9) multiples of powers of ten, otherwise linear 1-2-5 steps.
    static func log(lo: Double, hi: Double, maxTicks: Int) -> [Axis.Tick] {
        guard lo.isFinite, hi.isFinite, hi > lo else { return [] }
        let kLo = Int((lo - 1e-9).rounded(.up)), kHi = Int((hi + 1e-9).rounded(.down))
        let decades = kHi - kLo + 1
        if decades >= 2 {
            let every = max(1, (decades + maxTicks - 1) / max(1, maxTicks))
            var ticks: [Axis.Tick] = []
            for k in (kLo - 1)...kHi {
                if k >= kLo && (k - kLo) % every == 0 {
                    ticks.append(Axis.Tick(value: pow(10, Double(k)), label: formatPower(k)))
                }
                if every == 1 {  // unlabelled minor ticks 2…9 × 10^k
                    for m in 2...9 {
                        let t = log10(Double(m)) + Double(k)
                        if t >= lo && t <= hi { ticks.append(Axis.Tick(value: Double(m) * pow(10, Double(k)), label: nil)) }
                    }
                }
            }
            return ticks
        }
        for mantissas in [[1.0, 2, 5], [1.0, 2, 3, 4, 5, 6, 7, 8, 9]] {
            var ticks: [Axis.Tick] = []
            for k in (kLo - 1)...(kHi + 1) {
                for m in mantissas {
                    let t = log10(m) + Double(k)
                    if t >= lo - 1e-12 && t <= hi + 1e-12 {
                        let v = m * pow(10, Double(k))
                        ticks.append(Axis.Tick(value: v, label: format(v, step: pow(10, Double(k)))))
                    }
                }
            }
            if ticks.count >= 3 && ticks.count <= max(3, maxTicks) { return ticks }
        }
        return linear(lo: pow(10, lo), hi: pow(10, hi), maxTicks: min(maxTicks, 5))
            .filter { $0.value > 0 }
    }

    /// Label for a tick value on a grid of `step`: plain decimals with as many places as the
    /// step needs, scientific ("2.5e-5") for very small or large magnitudes.
    static func format(_ v: Double, step: Double) -> String {
        if v == 0 { return "0" }
        let mag = abs(v)
        if mag >= 1e5 || mag < 1e-3 || step < 1e-4 {
            let digits = max(0, min(6, Int(floor(log10(mag))) - Int(floor(log10(step) + 1e-9))))
            return scientific(v, digits: digits)
        }
        let decimals = max(0, min(10, -Int(floor(log10(step) + 1e-9))))
        let s = String(format: "%.\(decimals)f", v)
        return s == "-0" ? "0" : s
    }

    static func formatPower(_ k: Int) -> String {
        if k >= 0 && k <= 4 { return String(format: "%.0f", pow(10, Double(k))) }
        if k < 0 && k >= -3 { return String(format: "%.\(-k)f", pow(10, Double(k))) }
        return "1e\(k)"
    }

    /// "2.50e-05" → "2.5e-5".
    static func scientific(_ v: Double, digits: Int) -> String {
        let s = String(format: "%.\(digits)e", v)
        guard let e = s.firstIndex(of: "e") else { return s }
        var mantissa = String(s[..<e])
        if mantissa.contains(".") {
            while mantissa.hasSuffix("0") { mantissa.removeLast() }
            if mantissa.hasSuffix(".") { mantissa.removeLast() }
        }
        let exp = Int(s[s.index(after: e)...]) ?? 0
        return "\(mantissa)e\(exp)"
    }
}
