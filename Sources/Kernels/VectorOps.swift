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

    /// In-place numerically stable softmax; returns the sum of exponentials (after max shift).
    @discardableResult
    @inlinable public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        guard n > 0 else { return 0 }
        var m = -Float.infinity
        for i in 0..<n where x[i] > m { m = x[i] }
        if m == -Float.infinity { for i in 0..<n { x[i] = 0 }; return 0 }
        var s: Float = 0
        for i in 0..<n { let e = expf(x[i] - m); x[i] = e; s += e }
        let inv = 1 / s
        scale(x, inv, n)
        return s
    }

    /// out = silu(g) · u, silu(g) = g · sigmoid(g)   (SwiGLU)
    @inlinable @inline(__always)
    public static func siluMul(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let x = g[i]
            out[i] = x / (1 + expf(-x)) * u[i]
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
