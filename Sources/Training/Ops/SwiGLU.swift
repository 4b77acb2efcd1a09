import Foundation
import Kernels

extension Ops {
    /// out = silu(g) ⊙ u, silu(g) = g·σ(g). Caches nothing: the backward recomputes σ from g,
    /// so the caller keeps g and u (the gate and up projections).
    static func swigluForward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
                              _ out: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n {
            let x = g[i]
            out[i] = x / (1 + expf(-x)) * u[i]
        }
    }

    /// dg = dout ⊙ u ⊙ σ(g)(1 + g(1 − σ(g))),  du = dout ⊙ silu(g)  (overwrites: they feed the
    /// gate/up projections' backward). Element i is read before it is written, so dg may alias
    /// g and du may alias u.
    static func swigluBackward(_ dout: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
                               dg: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, count n: Int) {
        Parallel.forEachRange(n, minPerWorker: 8192) { r in
            for i in r {
                let x = g[i], up = u[i], d = dout[i]
                let s = 1 / (1 + expf(-x))
                du[i] = d * x * s
                dg[i] = d * up * s * (1 + x * (1 - s))
            }
        }
    }
}
