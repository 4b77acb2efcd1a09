import Foundation
import Kernels

/// The gated MLP activation of Llama / Qwen2, for both drivers. Element-wise: an element's
/// result does not depend on the call's length or its split over workers.
package enum SwiGLU {
    /// out = silu(g) ⊙ u, silu(g) = g·σ(g) (`Vec.siluMul`; out may alias g or u). Caches nothing:
    /// the backward recomputes σ from g, so the caller keeps g and u (the gate and up projections).
    package static func forward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
                                _ out: UnsafeMutablePointer<Float>, count n: Int) {
        Parallel.forEachRange(n, minPerWorker: 4096) { r in
            Vec.siluMul(g + r.lowerBound, u + r.lowerBound, out + r.lowerBound, r.count)
        }
    }

    /// dg = dout ⊙ u ⊙ σ(g)(1 + g(1 − σ(g))),  du = dout ⊙ silu(g)  (overwrites: they feed the
    /// gate/up projections' backward). Element i is read before it is written, so dg may alias
    /// g and du may alias u.
    package static func backward(_ dout: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
                                 dg: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, count n: Int) {
        // Ranges cut at multiples of 16 so every element takes the vector path.
        let blocks = n / 16
        Parallel.forEachRange(blocks, minPerWorker: 512) { r in
            for b in r {
                let i = b * 16
                let x = Vec.load(g + i), up = Vec.load(u + i), d = Vec.load(dout + i)
                let s = Vec.sigmoid(x)
                Vec.store(d * x * s, du + i)
                Vec.store(d * up * s * (1 + x * (1 - s)), dg + i)
            }
        }
        for i in (blocks * 16)..<n {
            let x = g[i], up = u[i], d = dout[i]
            let s = Vec.sigmoid(Vec.V(repeating: x))[0]
            du[i] = d * x * s
            dg[i] = d * up * s * (1 + x * (1 - s))
        }
    }
}
