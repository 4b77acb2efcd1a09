import Foundation

/// Element-wise and reduction kernels on contiguous Float buffers, 16 lanes at a time.
/// Reductions use a fixed lane layout and summation order, so results depend only on the
/// input (never on threads or timing): replays are bit-identical.
public enum Vec {
    public typealias V = SIMD16<Float>

    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = V(), acc1 = V()
        var i = 0
        while i + 32 <= n {
            acc0.addProduct(load(a + i), load(b + i))
            acc1.addProduct(load(a + i + 16), load(b + i + 16))
            i += 32
        }
        if i + 16 <= n { acc0.addProduct(load(a + i), load(b + i)); i += 16 }
        var s = (acc0 + acc1).sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    @inlinable @inline(__always)
    public static func sumOfSquares(_ a: UnsafePointer<Float>, _ n: Int) -> Float { dot(a, a, n) }

    @inlinable @inline(__always)
    public static func sum(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V()
        var i = 0
        while i + 16 <= n { acc += load(a + i); i += 16 }
        var s = acc.sum()
        while i < n { s += a[i]; i += 1 }
        return s
    }

    /// y += alpha · x
    @inlinable @inline(__always)
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let va = V(repeating: alpha)
        while i + 16 <= n { store(load(y + i).addingProduct(va, load(x + i)), y + i); i += 16 }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }

    /// y += x
    @inlinable @inline(__always)
    public static func add(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { store(load(y + i) + load(x + i), y + i); i += 16 }
        while i < n { y[i] += x[i]; i += 1 }
    }

    @inlinable @inline(__always)
    public static func scale(_ x: UnsafeMutablePointer<Float>, _ s: Float, _ n: Int) {
        var i = 0
        let vs = V(repeating: s)
        while i + 16 <= n { store(load(x + i) * vs, x + i); i += 16 }
        while i < n { x[i] *= s; i += 1 }
    }

    /// x[i] /= d (IEEE division per element, as torch's `div_`, not a multiply by 1/d).
    @inlinable @inline(__always)
    public static func divide(_ x: UnsafeMutablePointer<Float>, _ d: Float, _ n: Int) {
        var i = 0
        let vd = V(repeating: d)
        while i + 16 <= n { store(load(x + i) / vd, x + i); i += 16 }
        while i < n { x[i] /= d; i += 1 }
    }

    /// out = x / sqrt(mean(x²) + eps) · w  (Llama/Qwen RMSNorm). Returns the inverse RMS
    /// (the backward pass needs it).
    @discardableResult @inlinable @inline(__always)
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ eps: Float,
                               _ out: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let inv = 1 / (sumOfSquares(x, n) / Float(n) + eps).squareRoot()
        var i = 0
        let vi = V(repeating: inv)
        while i + 16 <= n { store(load(x + i) * vi * load(w + i), out + i); i += 16 }
        while i < n { out[i] = x[i] * inv * w[i]; i += 1 }
        return inv
    }

    /// e^x on 16 lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by Cephes' degree-6 polynomial for
    /// expf, 2^n written into the exponent bits. Within a few ulp of `expf` for −87.3 ≤ x ≤ 88.37
    /// (n ≤ 127); below that the result is 0, above it saturates at e^88.37. (libm's scalar expf took 3% of a
    /// training step; this is a few vector instructions.)
    @inlinable @inline(__always)
    public static func exp(_ x: V) -> V {
        let lo = V(repeating: -87.33654)
        // (pointwiseMin/Max, not `clamped`: that one stays a generic call, 30% of a step.)
        let xc = pointwiseMin(pointwiseMax(x, lo), V(repeating: 88.37))
        // Adding 1.5·2²³ rounds x·log2(e) to the nearest integer, held in the low mantissa bits.
        let magic = V(repeating: 12_582_912)
        let t = xc * V(repeating: 1.442_695_04) + magic
        let n = t - magic
        // r = x − n·ln2, with ln2 split in two so n·ln2_hi is exact.
        let r = xc - n * V(repeating: 0.693_359_375) + n * V(repeating: 2.121_944_40e-4)
        var p = V(repeating: 1.987_569_15e-4)
        p = p * r + V(repeating: 1.398_199_95e-3)
        p = p * r + V(repeating: 8.333_451_91e-3)
        p = p * r + V(repeating: 4.166_579_59e-2)
        p = p * r + V(repeating: 1.666_666_55e-1)
        p = p * r + V(repeating: 5.000_000_12e-1)
        let er = p * (r * r) + r + V(repeating: 1)
        let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let twoN = unsafeBitCast((ni &+ 127) &<< 23, to: V.self)
        var y = er * twoN
        y.replace(with: 0, where: x .< lo)
        return y
    }

    /// e^x for one value with the same polynomial as the vector form (used for loop tails so a
    /// buffer's result does not depend on where its length cuts the 16-lane blocks).
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    /// out[i] = e^(x[i] − shift); returns Σ out (16 lane sums, added in a fixed order).
    @discardableResult @inlinable @inline(__always)
    public static func expShifted(_ x: UnsafePointer<Float>, _ shift: Float, _ out: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let vs = V(repeating: shift)
        var acc = V()
        var i = 0
        while i + 16 <= n {
            let e = exp(load(x + i) - vs)
            store(e, out + i)
            acc += e
            i += 16
        }
        if i < n {
            // The tail as one vector padded with −∞ (whose exponential is 0).
            var t = V(repeating: -.infinity)
            for j in 0..<(n - i) { t[j] = x[i + j] }
            let e = exp(t - vs)
            for j in 0..<(n - i) { out[i + j] = e[j] }
            acc += e
        }
        return acc.sum()
    }

    @inlinable @inline(__always)
    public static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = -Float.infinity
        var i = 0
        if n >= 16 {
            // A compare-and-select, not `pointwiseMax` (which stays scalar here: 9 ns per
            // element, 60× slower; it made the softmaxes of attention and the loss 7% of a step).
            var vm = V(repeating: -.infinity)
            while i + 16 <= n {
                let v = load(x + i)
                vm.replace(with: v, where: v .> vm)
                i += 16
            }
            for j in 0..<16 where vm[j] > m { m = vm[j] }
        }
        while i < n { if x[i] > m { m = x[i] }; i += 1 }
        return m
    }

    /// In-place numerically stable softmax; returns the sum of exponentials (after max shift).
    @discardableResult
    @inlinable public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        guard n > 0 else { return 0 }
        let m = max(x, n)
        if m == -Float.infinity { for i in 0..<n { x[i] = 0 }; return 0 }
        let s = expShifted(x, m, x, n)
        scale(x, 1 / s, n)
        return s
    }

    /// σ(x) = 1 / (1 + e^−x) on 16 lanes.
    @inlinable @inline(__always)
    public static func sigmoid(_ x: V) -> V { V(repeating: 1) / (V(repeating: 1) + exp(-x)) }

    /// out = silu(g) · u, silu(g) = g · sigmoid(g)   (SwiGLU)
    @inlinable @inline(__always)
    public static func siluMul(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let x = load(g + i)
            store(x * sigmoid(x) * load(u + i), out + i)
            i += 16
        }
        while i < n {
            let x = g[i]
            out[i] = x * sigmoid(V(repeating: x))[0] * u[i]
            i += 1
        }
    }

    @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inlinable @inline(__always) public static func load(_ p: UnsafeMutablePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inlinable @inline(__always) public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }
}
