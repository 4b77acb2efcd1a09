import Foundation
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

    /// cos/sin tables for one position (half a head each).
    @inline(__always)
    func angles(_ pos: Int, _ cos: UnsafeMutablePointer<Float>, _ sin: UnsafeMutablePointer<Float>) {
        for i in 0..<invFreq.count {
            let a = Float(pos) * invFreq[i]
            cos[i] = Foundation.cos(a); sin[i] = Foundation.sin(a)
        }
    }

    /// Rotates `heads` consecutive head vectors at `x` in place.
    @inline(__always)
    static func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int,
                       _ cos: UnsafePointer<Float>, _ sin: UnsafePointer<Float>) {
        let half = headDim / 2
        for h in 0..<heads {
            let v = x + h * headDim
            for i in 0..<half {
                let a = v[i], b = v[i + half]
                v[i] = a * cos[i] - b * sin[i]
                v[i + half] = b * cos[i] + a * sin[i]
            }
        }
    }
}
