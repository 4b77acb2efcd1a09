import Foundation
import Kernels

/// A bad optimizer / schedule / clipping setting, or mismatched parameter buffers.
public struct OptimizerError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `torch.optim.AdamW` hyper-parameters (same defaults).
public struct AdamWConfig: Codable, Equatable, Sendable {
    public var lr: Double = 1e-3
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    public var weightDecay: Double = 0.01

    public init(lr: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                eps: Double = 1e-8, weightDecay: Double = 0.01) {
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }

    public func validate() throws {
        guard lr.isFinite, lr > 0 else { throw OptimizerError("AdamW: lr must be a finite number > 0 (got \(lr))") }
        guard beta1.isFinite, (0..<1).contains(beta1) else { throw OptimizerError("AdamW: beta1 must be in [0, 1) (got \(beta1))") }
        guard beta2.isFinite, (0..<1).contains(beta2) else { throw OptimizerError("AdamW: beta2 must be in [0, 1) (got \(beta2))") }
        guard eps.isFinite, eps >= 0 else { throw OptimizerError("AdamW: eps must be a finite number >= 0 (got \(eps))") }
        guard weightDecay.isFinite, weightDecay >= 0 else {
            throw OptimizerError("AdamW: weight_decay must be a finite number >= 0 (got \(weightDecay))")
        }
    }
}

/// Per-tensor AdamW state: step count and the two moment buffers (zero before the first step,
/// exactly like torch's lazily created `exp_avg` / `exp_avg_sq`).
public struct AdamWTensorState: Equatable, Sendable {
    public var step: Int = 0
    public var m: [Float]
    public var v: [Float]
    public init(count: Int) { m = [Float](repeating: 0, count: count); v = m }
}

/// Everything needed to resume: the config and each tensor's state. Codable (moments stored as
/// little-endian float32 bytes, so JSON/plist round trips are exact) and also a raw binary form.
public struct AdamWState: Equatable, Sendable {
    public var config: AdamWConfig
    public var tensors: [AdamWTensorState]
}

/// AdamW exactly as `torch.optim.AdamW(foreach=False)` (`_single_tensor_adam` with decoupled
/// weight decay): same float32 operations in the same order (see `AdamWKernel` for the one
/// deliberate difference, sqrt). Deterministic: results depend only on the inputs. Parameters are flat Float buffers
/// identified by their index in `parameterCounts`.
public final class AdamW {
    public private(set) var state: AdamWState
    public var config: AdamWConfig { state.config }
    public var parameterCounts: [Int] { state.tensors.map { $0.m.count } }

    public init(parameterCounts: [Int], config: AdamWConfig = AdamWConfig()) throws {
        try config.validate()
        for (i, n) in parameterCounts.enumerated() where n < 0 {
            throw OptimizerError("AdamW: parameter tensor \(i) has a negative element count (\(n))")
        }
        state = AdamWState(config: config, tensors: parameterCounts.map { AdamWTensorState(count: $0) })
    }

    /// Resume from a saved state (validated: config and buffer sizes).
    public init(state: AdamWState) throws {
        try state.config.validate()
        for (i, t) in state.tensors.enumerated() {
            guard t.m.count == t.v.count else {
                throw OptimizerError("AdamW state: tensor \(i) has \(t.m.count) first-moment but \(t.v.count) second-moment values")
            }
            guard t.step >= 0 else { throw OptimizerError("AdamW state: tensor \(i) has a negative step count (\(t.step))") }
        }
        self.state = state
    }

    /// One AdamW update of tensor `index` with learning rate `lr` (the scheduled value; the
    /// config's `lr` is the base). Tensors without a gradient this step are simply not stepped
    /// (their own step count stays), as torch skips parameters whose `.grad` is None.
    public func step(_ index: Int, parameter: UnsafeMutableBufferPointer<Float>,
                     gradient: UnsafeBufferPointer<Float>, lr: Double) throws {
        guard state.tensors.indices.contains(index) else {
            throw OptimizerError("AdamW: no parameter tensor \(index) (have \(state.tensors.count))")
        }
        let n = state.tensors[index].m.count
        guard parameter.count == n, gradient.count == n else {
            throw OptimizerError("AdamW: tensor \(index) expects \(n) values, got parameter \(parameter.count) / gradient \(gradient.count)")
        }
        guard lr.isFinite, lr >= 0 else { throw OptimizerError("AdamW: scheduled lr must be finite and >= 0 (got \(lr))") }
        let c = state.config
        state.tensors[index].step += 1
        // torch keeps `step` as a float32 tensor and does this scalar math in Python doubles.
        let t = Double(Float(state.tensors[index].step))
        let bc1 = 1 - pow(c.beta1, t)
        let bc2 = 1 - pow(c.beta2, t)
        let stepSize = lr / bc1
        let k = AdamWKernel(decay: c.weightDecay != 0 ? Float(1 - lr * c.weightDecay) : nil,
                            w1: Float(1 - c.beta1), beta2: Float(c.beta2), w2: Float(1 - c.beta2),
                            bc2Sqrt: Float(pow(bc2, 0.5)), eps: Float(c.eps), negStep: Float(-stepSize))
        guard n > 0, let p = parameter.baseAddress, let g = gradient.baseAddress else { return }
        // Move the moments out while updating (no copy; avoids overlapping access to `state`).
        var m = state.tensors[index].m, v = state.tensors[index].v
        state.tensors[index].m = []; state.tensors[index].v = []
        defer { state.tensors[index].m = m; state.tensors[index].v = v }
        m.withUnsafeMutableBufferPointer { mb in
            v.withUnsafeMutableBufferPointer { vb in k.run(p, g, mb.baseAddress!, vb.baseAddress!, n) }
        }
    }

    /// Steps every tensor in order with the same `lr`.
    public func step(parameters: inout [[Float]], gradients: [[Float]], lr: Double) throws {
        guard parameters.count == state.tensors.count, gradients.count == state.tensors.count else {
            throw OptimizerError("AdamW: expected \(state.tensors.count) tensors, got \(parameters.count) parameters / \(gradients.count) gradients")
        }
        for i in parameters.indices {
            try parameters[i].withUnsafeMutableBufferPointer { p in
                try gradients[i].withUnsafeBufferPointer { g in try step(i, parameter: p, gradient: g, lr: lr) }
            }
        }
    }
}

/// The float32 part of torch's `_single_tensor_adam` (decoupled decay), element-wise:
///   p *= decay;  m = lerp(m, g, 1−β1);  v = fma((1−β2)·g, g, v·β2);
///   p += (−step_size·m) / (sqrt(v) / sqrt(bc2) + eps)
/// ATen's CPU kernels fuse the multiply-adds of `lerp` (fmadd(w, end−start, start), or
/// fmadd(w−1, end−start, end) for w ≥ 0.5) and of `addcmul`, in both their SIMD body and scalar
/// tail, so one formula matches both. Each torch op is a full pass over the tensor, but all are
/// element-wise, so fusing them per element gives the same values. The one op that differs from
/// torch is `sqrt`: torch+MKL's float sqrt is not correctly rounded (≈20% of values 1 ulp off);
/// ours is IEEE, so torch's parameters are matched to a few ulp, not bit-for-bit.
struct AdamWKernel {
    let decay: Float?
    let w1: Float, beta2: Float, w2: Float, bc2Sqrt: Float, eps: Float, negStep: Float

    func run(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
             _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ n: Int) {
        typealias V = Vec.V
        let small = abs(w1) < 0.5
        let lw = small ? w1 : w1 - 1
        let vlw = V(repeating: lw), vd = V(repeating: decay ?? 1)
        let vb2 = V(repeating: beta2), vw2 = V(repeating: w2)
        let vbc = V(repeating: bc2Sqrt), veps = V(repeating: eps), vstep = V(repeating: negStep)
        var i = 0
        while i + 16 <= n {
            var pv = Vec.load(p + i)
            let gv = Vec.load(g + i)
            if decay != nil { pv = pv * vd }
            let m0 = Vec.load(m + i)
            let mv = (small ? m0 : gv).addingProduct(vlw, gv - m0)
            let vv = (Vec.load(v + i) * vb2).addingProduct(vw2 * gv, gv)
            let denom = vv.squareRoot() / vbc + veps
            pv = pv + vstep * mv / denom
            Vec.store(pv, p + i); Vec.store(mv, m + i); Vec.store(vv, v + i)
            i += 16
        }
        while i < n {
            var pi = p[i]
            let gi = g[i]
            if let d = decay { pi = pi * d }
            let m0 = m[i]
            let mi = (small ? m0 : gi).addingProduct(lw, gi - m0)
            let vi = (v[i] * beta2).addingProduct(w2 * gi, gi)
            let denom = vi.squareRoot() / bc2Sqrt + eps
            pi = pi + negStep * mi / denom
            p[i] = pi; m[i] = mi; v[i] = vi
            i += 1
        }
    }
}

// MARK: - Serialisation

extension AdamWTensorState: Codable {
    enum CodingKeys: String, CodingKey { case step, m, v }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        m = try Self.floats(c.decode(Data.self, forKey: .m), key: "m")
        v = try Self.floats(c.decode(Data.self, forKey: .v), key: "v")
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step)
        try c.encode(Self.bytes(m), forKey: .m)
        try c.encode(Self.bytes(v), forKey: .v)
    }
    static func bytes(_ a: [Float]) -> Data {
        // Little-endian hosts (x86-64, arm64) store Float32 as the format wants: copy in bulk.
        a.withUnsafeBytes { Data($0) }
    }
    static func floats(_ d: Data, key: String) throws -> [Float] {
        guard d.count % 4 == 0 else { throw OptimizerError("AdamW state: '\(key)' holds \(d.count) bytes, not a multiple of 4") }
        var out = [Float](repeating: 0, count: d.count / 4)
        out.withUnsafeMutableBytes { o in d.withUnsafeBytes { o.copyMemory(from: $0) } }
        return out
    }
}

extension AdamWState: Codable {
    /// Raw binary form: magic "ADMW", version 1, then little-endian
    /// [lr, beta1, beta2, eps, weightDecay: Float64][tensorCount: UInt64]
    /// and per tensor [step: UInt64][count: UInt64][m: count × Float32][v: count × Float32].
    public func serialized() -> Data {
        var d = Data("ADMW".utf8)
        func u64(_ x: UInt64) { withUnsafeBytes(of: x.littleEndian) { d.append(contentsOf: $0) } }
        u64(1)
        for x in [config.lr, config.beta1, config.beta2, config.eps, config.weightDecay] { u64(x.bitPattern) }
        u64(UInt64(tensors.count))
        for t in tensors {
            u64(UInt64(t.step)); u64(UInt64(t.m.count))
            d.append(AdamWTensorState.bytes(t.m)); d.append(AdamWTensorState.bytes(t.v))
        }
        return d
    }

    public init(serialized data: Data) throws {
        let b = [UInt8](data)
        var o = 0
        func u64(_ what: String) throws -> UInt64 {
            guard o + 8 <= b.count else { throw OptimizerError("AdamW state: truncated at byte \(o) reading \(what)") }
            var x: UInt64 = 0
            for k in 0..<8 { x |= UInt64(b[o + k]) << (8 * k) }
            o += 8
            return x
        }
        guard b.count >= 4, b[0..<4].elementsEqual("ADMW".utf8) else { throw OptimizerError("AdamW state: missing 'ADMW' magic at byte 0") }
        o = 4
        let version = try u64("version")
        guard version == 1 else { throw OptimizerError("AdamW state: unsupported version \(version) at byte 4") }
        var h = [Double]()
        for name in ["lr", "beta1", "beta2", "eps", "weight_decay"] { h.append(Double(bitPattern: try u64(name))) }
        config = AdamWConfig(lr: h[0], beta1: h[1], beta2: h[2], eps: h[3], weightDecay: h[4])
        let count = try u64("tensor count")
        guard count <= UInt64(b.count) else { throw OptimizerError("AdamW state: implausible tensor count \(count) at byte \(o - 8)") }
        tensors = []
        for i in 0..<Int(count) {
            let step = try u64("step of tensor \(i)")
            let n = try u64("size of tensor \(i)")
            guard step <= UInt64(Int.max), n <= UInt64((b.count - o) / 8) else {
                throw OptimizerError("AdamW state: tensor \(i) header (step \(step), \(n) values) does not fit the \(b.count)-byte data at byte \(o - 16)")
            }
            let bytes = Int(n) * 4
            var t = AdamWTensorState(count: 0)
            t.step = Int(step)
            t.m = try AdamWTensorState.floats(Data(b[o..<(o + bytes)]), key: "m"); o += bytes
            t.v = try AdamWTensorState.floats(Data(b[o..<(o + bytes)]), key: "v"); o += bytes
            tensors.append(t)
        }
        guard o == b.count else { throw OptimizerError("AdamW state: \(b.count - o) trailing bytes at byte \(o)") }
    }
}
