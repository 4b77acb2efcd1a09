import Foundation
import Kernels

/// `torch.nn.utils.clip_grad_norm_` (L2) over several gradient tensors.
///
/// Like torch, the total is the L2 norm of the per-tensor L2 norms (each rounded to float32).
/// Reduction order (fixed, so replays are bit-identical on any machine and thread count):
/// within a tensor, element i goes to Double lane i mod 8 (squares summed in index order per
/// lane), the 8 lanes are added 0…7, then the scalar tail; tensors are combined in the order
/// given, in Double. Double accumulation makes both levels (nearly always) the correctly rounded
/// float32 result, which is what torch's float32 kernels give up to an ulp.
public enum GradClip {
    /// L2 norm of one tensor, as float32.
    public static func norm(_ g: UnsafeBufferPointer<Float>) -> Float {
        Float(sumOfSquares(g).squareRoot())
    }

    /// Total L2 norm over all tensors (the value `clip_grad_norm_` returns).
    public static func totalNorm(_ grads: [UnsafeBufferPointer<Float>]) -> Float {
        var s: Double = 0
        for g in grads {
            let n = Double(norm(g))
            s += n * n
        }
        return Float(s.squareRoot())
    }

    /// Scales every gradient by min(1, maxNorm / (total + 1e-6)) and returns the norm before
    /// clipping. Non-finite norms propagate (torch's `error_if_nonfinite=False`).
    @discardableResult
    public static func clip(_ grads: [UnsafeMutableBufferPointer<Float>], maxNorm: Double) throws -> Float {
        let total = totalNorm(grads.map { UnsafeBufferPointer($0) })
        let c = try coefficient(total: total, maxNorm: maxNorm)
        for g in grads where g.count > 0 { Vec.scale(g.baseAddress!, c, g.count) }
        return total
    }

    @discardableResult
    public static func clip(_ grads: inout [[Float]], maxNorm: Double) throws -> Float {
        let total = totalNorm(grads)
        try scale(&grads, total: total, maxNorm: maxNorm)
        return total
    }

    /// `totalNorm` of gradients held as arrays.
    public static func totalNorm(_ grads: [[Float]]) -> Float {
        var sum: Double = 0
        for g in grads { let n = Double(g.withUnsafeBufferPointer { norm($0) }); sum += n * n }
        return Float(sum.squareRoot())
    }

    /// The second half of `clip`: scales every gradient by min(1, maxNorm / (total + 1e-6)),
    /// `total` being their `totalNorm` (computed first, e.g. to check it is finite).
    public static func scale(_ grads: inout [[Float]], total: Float, maxNorm: Double) throws {
        let c = try coefficient(total: total, maxNorm: maxNorm)
        for i in grads.indices { grads[i].withUnsafeMutableBufferPointer { g in if g.count > 0 { Vec.scale(g.baseAddress!, c, g.count) } } }
    }

    /// torch: `max_norm / (total + 1e-6)` is `reciprocal(total + 1e-6) * max_norm` in float32,
    /// then clamped to 1.
    static func coefficient(total: Float, maxNorm: Double) throws -> Float {
        guard maxNorm.isFinite, maxNorm > 0 else { throw OptimizerError("clip_grad_norm: max_norm must be a finite number > 0 (got \(maxNorm))") }
        let c = (1 / (total + Float(1e-6))) * Float(maxNorm)
        return c.isNaN ? c : min(c, 1)
    }

    static func sumOfSquares(_ g: UnsafeBufferPointer<Float>) -> Double {
        guard let p = g.baseAddress else { return 0 }
        let n = g.count
        var acc = SIMD8<Double>()
        var i = 0
        while i + 8 <= n {
            let x = SIMD8<Double>(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self))
            acc.addProduct(x, x)
            i += 8
        }
        var s = acc[0]
        for l in 1..<8 { s += acc[l] }
        while i < n { let x = Double(p[i]); s = s.addingProduct(x, x); i += 1 }
        return s
    }
}
