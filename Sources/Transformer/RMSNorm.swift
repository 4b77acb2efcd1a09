import Kernels

/// RMSNorm over rows, for both drivers (inference and training); the row routine is
/// `Vec.rmsNorm`. Rows are independent, so a row's result does not depend on how many rows a
/// call holds or how they are split over workers.
package enum RMSNorm {
    /// out[t] = x[t] · inv[t] · w,  inv[t] = 1/√(mean(x[t]²) + eps)  (HF Llama/Qwen2 RMSNorm).
    /// Caches `invRMS` [T] for the backward (which also needs x and w) when it is given.
    package static func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, eps: Float,
                                _ out: UnsafeMutablePointer<Float>, invRMS: UnsafeMutablePointer<Float>?,
                                tokens: Int, dim d: Int) {
        Parallel.forEachRange(tokens, minPerWorker: 16) { r in
            for t in r {
                let inv = Vec.rmsNorm(x + t * d, w, eps, out + t * d, d)
                invRMS?[t] = inv
            }
        }
    }

    /// dx[t] += inv · (w ⊙ dout − x · inv² · mean(w ⊙ dout ⊙ x))   (accumulates: dx is the
    /// residual stream's gradient). dw += Σ_t dout ⊙ x · inv when `dw` is given (the weight is
    /// frozen in LoRA training, so it is optional).
    package static func backward(_ dout: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                 invRMS: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                 dw: UnsafeMutablePointer<Float>? = nil, tokens: Int, dim d: Int) {
        // Rows are independent for dx; dw (a sum over rows) is accumulated serially afterwards.
        Parallel.forEachRange(tokens, minPerWorker: 16) { r in
            for t in r {
                let xr = x + t * d, dr = dout + t * d, gx = dx + t * d
                let inv = invRMS[t]
                var s: Float = 0
                for i in 0..<d { s += w[i] * dr[i] * xr[i] }
                let c = inv * inv * inv * s / Float(d)
                for i in 0..<d { gx[i] += inv * w[i] * dr[i] - c * xr[i] }
            }
        }
        if let dw {
            for t in 0..<tokens {
                let xr = x + t * d, dr = dout + t * d, inv = invRMS[t]
                for i in 0..<d { dw[i] += dr[i] * xr[i] * inv }
            }
        }
    }
}
