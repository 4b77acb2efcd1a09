import Foundation
import Kernels
import ModelFiles

/// Rotary position embedding in Hugging Face's rotate-half layout: dimension i pairs with
/// i + headDim/2. Frequencies follow transformers (fp32 inverse frequencies, fp32 angles),
/// with Llama-3 frequency scaling when the config asks for it.
public struct RoPE: Sendable {
    public let headDim: Int
    public let invFreq: [Float]

    /// `freqFactors`: llama.cpp stores Llama-3 frequency scaling in GGUF files as a
    /// `rope_freqs.weight` tensor (one divisor per frequency) instead of config keys.
    public init(config: ModelConfig, freqFactors: [Float]? = nil) {
        headDim = config.headDim
        let half = headDim / 2
        let base = Float(config.ropeTheta)
        var f = (0..<half).map { i in 1 / powf(base, Float(2 * i) / Float(config.headDim)) }
        if let s = config.ropeScaling, s.type == "llama3" {
            let old = Float(s.originalMaxPositionEmbeddings)
            let lowWavelen = old / Float(s.lowFreqFactor), highWavelen = old / Float(s.highFreqFactor)
            let factor = Float(s.factor)
            f = f.map { freq in
                let wavelen = 2 * Float.pi / freq
                if wavelen < highWavelen { return freq }
                if wavelen > lowWavelen { return freq / factor }
                let smooth = (old / wavelen - Float(s.lowFreqFactor)) / Float(s.highFreqFactor - s.lowFreqFactor)
                return (1 - smooth) * freq / factor + smooth * freq
            }
        }
        if let ff = freqFactors, ff.count == f.count {
            f = zip(f, ff).map { $0 / $1 }
        }
        invFreq = f
    }

    /// The cos/sin table of these positions.
    package func table(positions: some Sequence<Int>) -> RoPETable { RoPETable(invFreq: invFreq, positions: positions) }
}

/// cos/sin per position for rotate-half RoPE: entry (t, i) holds cos/sin(θ), θ = positions[t] ·
/// invFreq[i] in fp32 (as transformers computes it). The one table both drivers rotate with:
/// inference for the positions a call appends to the KV cache, training for every row of a
/// micro-batch (packed sequences restart at 0). Row t rotates row t of the buffer it is given.
package struct RoPETable: Sendable {
    package let half: Int
    package let cos: [Float], sin: [Float]   // [positions × half]

    package init(invFreq: [Float], positions: some Sequence<Int>) {
        half = invFreq.count
        var c: [Float] = [], s: [Float] = []
        for p in positions {
            for f in invFreq {
                let a = Float(p) * f
                c.append(Foundation.cos(a)); s.append(Foundation.sin(a))
            }
        }
        cos = c; sin = s
    }
    package var tokens: Int { half == 0 ? 0 : cos.count / half }

    /// Rotates x [tokens × heads × 2·half] in place: for each head vector v and i < half,
    /// (v[i], v[i+half]) ← (v[i] cos θ_i − v[i+half] sin θ_i, v[i+half] cos θ_i + v[i] sin θ_i).
    /// Caches nothing (the rotation is linear; the backward needs only the table).
    package func forward(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int) {
        rotate(x, heads: heads, headDim: headDim, sign: 1)
    }

    /// dx = R(−θ) · dout, in place on the gradient buffer (overwrites it: dout becomes dx).
    package func backward(_ d: UnsafeMutablePointer<Float>, heads: Int, headDim: Int) {
        rotate(d, heads: heads, headDim: headDim, sign: -1)
    }

    private func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim hd: Int, sign: Float) {
        precondition(hd == 2 * half, "RoPE table is for head dim \(2 * half), not \(hd)")
        let half = self.half
        cos.withUnsafeBufferPointer { cp in sin.withUnsafeBufferPointer { sp in
            Parallel.forEachRange(tokens, minPerWorker: 16) { rows in
                for t in rows {
                    let c = cp.baseAddress! + t * half, s = sp.baseAddress! + t * half
                    for h in 0..<heads {
                        let v = x + (t * heads + h) * hd
                        for i in 0..<half {
                            let a = v[i], b = v[i + half], si = sign * s[i]
                            v[i] = a * c[i] - b * si
                            v[i + half] = b * c[i] + a * si
                        }
                    }
                }
            }
        } }
    }
}
