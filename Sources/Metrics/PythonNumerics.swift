import Foundation

/// The few CPython / NumPy numerics the reference metrics go through, reproduced bit for bit:
/// `round(x, n)`, `math.fsum`, `np.mean` of a float64 list, and `str.isspace()`.
public enum PythonNumerics {
    /// Python's `round(x, digits)` for a float: the exact binary value of `x` rounded half-to-even at
    /// `digits` decimals (CPython's `_Py_dg_dtoa` mode 3), then read back as the nearest double.
    /// `x * 10^digits` is formed exactly in 128 bits, so ties (e.g. 0.03125 → 0.0312) break as in CPython.
    public static func round(_ x: Double, digits: Int = 4) -> Double {
        precondition((0...15).contains(digits))
        guard x.isFinite, x != 0 else { return x }
        if abs(x) < 0x1p-60 { return x < 0 ? -0.0 : 0.0 }        // < 10^-15 / 2: rounds to zero
        let e = Int(x.exponent) - Double.significandBitCount     // |x| = m · 2^e, m a 53-bit integer
        if e >= 0 { return x }                                   // already an integer
        let m = UInt128(x.significandBitPattern | (1 << UInt64(Double.significandBitCount)))
        var scale: UInt128 = 1
        for _ in 0..<digits { scale *= 10 }
        let scaled = m * scale                                   // < 2^103: exact
        let shift = UInt128(-e)                                  // < 113 since |x| ≥ 2^-60
        let floor = scaled >> shift
        let rem = scaled - (floor << shift)
        let half = UInt128(1) << (shift - 1)
        let q = rem > half || (rem == half && floor & 1 == 1) ? floor + 1 : floor
        var r: Double
        if q < (UInt128(1) << 53) {
            r = Double(q) / Double(scale)                        // both exact: one correctly rounded division
        } else {
            r = Double("\(q)e-\(digits)")!                       // correctly rounded decimal parse
        }
        if x < 0 { r = -r }
        return r
    }

    /// CPython's `math.fsum`: the correctly rounded sum (Shewchuk partials, CPython's final half-even fix-up).
    public static func fsum<S: Sequence>(_ values: S) -> Double where S.Element == Double {
        var partials: [Double] = []
        for value in values {
            var x = value
            var i = 0
            for j in 0..<partials.count {
                var y = partials[j]
                if abs(x) < abs(y) { swap(&x, &y) }
                let hi = x + y
                let lo = y - (hi - x)
                if lo != 0 { partials[i] = lo; i += 1 }
                x = hi
            }
            partials.removeSubrange(i...)
            if x != 0 { partials.append(x) }   // the metrics sum only finite values
        }
        var n = partials.count
        guard n > 0 else { return 0 }
        n -= 1
        var hi = partials[n]
        var lo = 0.0
        while n > 0 {
            let x = hi
            n -= 1
            let y = partials[n]
            hi = x + y
            lo = y - (hi - x)
            if lo != 0 { break }
        }
        if n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0)) {
            let y = lo * 2
            let x = hi + y
            if y == x - hi { hi = x }
        }
        return hi
    }

    /// `float(np.mean(values))` for a 1-D float64 list: NumPy's pairwise summation (8 accumulators,
    /// blocks of 128) started from the identity 0.0, divided by the count. Empty → NaN, as NumPy.
    public static func mean(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        return values.withUnsafeBufferPointer { (0.0 + pairwiseSum($0[...])) / Double(values.count) }
    }

    static func pairwiseSum(_ a: Slice<UnsafeBufferPointer<Double>>) -> Double {
        let n = a.count, s = a.startIndex
        if n < 8 {
            var res = 0.0
            for i in s..<(s + n) { res += a[i] }
            return res
        } else if n <= 128 {
            var r = (0..<8).map { a[s + $0] }
            var i = 8
            while i < n - n % 8 {
                for j in 0..<8 { r[j] += a[s + i + j] }
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n { res += a[s + i]; i += 1 }
            return res
        } else {
            var n2 = n / 2
            n2 -= n2 % 8
            return pairwiseSum(a[s..<(s + n2)]) + pairwiseSum(a[(s + n2)...])
        }
    }

    /// Python's `str.isspace()` for one code point (also what `str.split()`, `str.rstrip()` and the
    /// regex class `\s` use): bidirectional class WS/B/S or category Zs.
    @inline(__always)
    public static func isWhitespace(_ c: UInt32) -> Bool {
        switch c {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}
