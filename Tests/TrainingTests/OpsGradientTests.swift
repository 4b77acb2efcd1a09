import Foundation
import Kernels
import Testing
@testable import Training
import Transformer

/// Gradient checks of the training ops: each Float backward is compared with central finite
/// differences of an independent Double re-implementation of the forward (written here from the
/// HF Llama/Qwen2 definitions), on L = Σ out ⊙ R with a random R. Every check also proves it can
/// fail: the same gradient scaled by 1.01 must be rejected.

// MARK: - Test support

private struct TestData {
    var rng: SeededRNG
    init(_ seed: UInt64) { rng = SeededRNG(seed: seed) }
    /// Float-representable values uniform in [-scale, scale), so Float and Double see the same input.
    mutating func floats(_ n: Int, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * scale }
    }
}

private func dbl(_ a: [Float]) -> [Double] { a.map(Double.init) }

private func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

/// ∂f/∂x by central differences in Double.
private func numericGradient(_ x: [Double], eps: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    var g = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let x0 = x[i]
        x[i] = x0 + eps; let fp = f(x)
        x[i] = x0 - eps; let fm = f(x)
        x[i] = x0
        g[i] = (fp - fm) / (2 * eps)
    }
    return g
}

/// ‖analytic − numeric‖ / ‖numeric‖.
private func relativeError(_ analytic: [Float], _ numeric: [Double]) -> Double {
    precondition(analytic.count == numeric.count)
    var num = 0.0, den = 0.0
    for (a, n) in zip(analytic, numeric) { num += (Double(a) - n) * (Double(a) - n); den += n * n }
    return num.squareRoot() / max(den.squareRoot(), 1e-30)
}

private let gradTolerance = 1e-3

/// Passes when the gradient agrees, and proves the check is sensitive: the same gradient off by 1%
/// (scaled by 1.01) and with its largest entry's sign flipped must both be rejected.
private func checkGradient(_ name: String, _ analytic: [Float], _ numeric: [Double],
                           sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(numeric.contains { $0 != 0 }, "\(name): numeric gradient is all zero", sourceLocation: sourceLocation)
    let e = relativeError(analytic, numeric)
    #expect(e <= gradTolerance, "\(name): relative error \(e)", sourceLocation: sourceLocation)
    let scaled = analytic.map { $0 * 1.01 }
    #expect(relativeError(scaled, numeric) > gradTolerance, "\(name): a 1% error went undetected", sourceLocation: sourceLocation)
    var flipped = analytic
    if let i = analytic.indices.max(by: { abs(analytic[$0]) < abs(analytic[$1]) }) { flipped[i] = -flipped[i] }
    #expect(relativeError(flipped, numeric) > gradTolerance, "\(name): a sign flip went undetected", sourceLocation: sourceLocation)
}

private func maxAbsDiff(_ a: [Float], _ b: [Double]) -> Double {
    zip(a, b).reduce(0) { max($0, abs(Double($1.0) - $1.1)) }
}

// MARK: - Double reference forwards

private enum Ref {
    static func rmsNorm(_ x: [Double], _ w: [Double], eps: Double, T: Int, d: Int) -> [Double] {
        var out = [Double](repeating: 0, count: T * d)
        for t in 0..<T {
            var ms = 0.0
            for i in 0..<d { ms += x[t * d + i] * x[t * d + i] }
            let inv = 1 / (ms / Double(d) + eps).squareRoot()
            for i in 0..<d { out[t * d + i] = x[t * d + i] * inv * w[i] }
        }
        return out
    }

    static func swiglu(_ g: [Double], _ u: [Double]) -> [Double] {
        zip(g, u).map { g, u in g / (1 + exp(-g)) * u }
    }

    static func rope(_ x: [Double], positions: [Int], heads: Int, hd: Int, invFreq: [Float]) -> [Double] {
        var out = x
        let half = hd / 2
        for (t, p) in positions.enumerated() {
            for h in 0..<heads {
                let base = (t * heads + h) * hd
                for i in 0..<half {
                    let a = Double(p) * Double(invFreq[i])
                    let x1 = x[base + i], x2 = x[base + i + half]
                    out[base + i] = x1 * cos(a) - x2 * sin(a)        // x·cos + rotate_half(x)·sin
                    out[base + i + half] = x2 * cos(a) + x1 * sin(a)
                }
            }
        }
        return out
    }

    static func attention(q: [Double], k: [Double], v: [Double], T: Int, nh: Int, nkv: Int, hd: Int) -> [Double] {
        let qw = nh * hd, kvw = nkv * hd
        var out = [Double](repeating: 0, count: T * qw)
        for h in 0..<nh {
            let kh = h / (nh / nkv)
            for i in 0..<T {
                var s = [Double](repeating: 0, count: i + 1)
                for j in 0...i {
                    var acc = 0.0
                    for e in 0..<hd { acc += q[i * qw + h * hd + e] * k[j * kvw + kh * hd + e] }
                    s[j] = acc / Double(hd).squareRoot()
                }
                let m = s.max()!
                let ex = s.map { exp($0 - m) }
                let z = ex.reduce(0, +)
                for j in 0...i {
                    for e in 0..<hd { out[i * qw + h * hd + e] += ex[j] / z * v[j * kvw + kh * hd + e] }
                }
            }
        }
        return out
    }

    /// y = x Wᵀ (+ bias) + scaling · ((x ⊙ mask) Aᵀ) Bᵀ; an empty mask means no dropout.
    static func lora(x: [Double], w: [Double], a: [Double], b: [Double], mask: [Float],
                     m: Int, din: Int, dout: Int, r: Int, scaling: Double) -> [Double] {
        var y = [Double](repeating: 0, count: m * dout)
        for t in 0..<m {
            var xa = [Double](repeating: 0, count: r)
            for j in 0..<r {
                for i in 0..<din {
                    let xd = x[t * din + i] * (mask.isEmpty ? 1 : Double(mask[t * din + i]))
                    xa[j] += xd * a[j * din + i]
                }
            }
            for o in 0..<dout {
                var acc = 0.0
                for i in 0..<din { acc += x[t * din + i] * w[o * din + i] }
                for j in 0..<r { acc += scaling * xa[j] * b[o * r + j] }
                y[t * dout + o] = acc
            }
        }
        return y
    }

    /// Summed next-token cross-entropy over positions whose target is not -100.
    static func crossEntropy(h: [Double], w: [Double], targets: [Int], T: Int, d: Int, V: Int) -> Double {
        var loss = 0.0
        for t in 0..<T where targets[t] != -100 {
            var logits = [Double](repeating: 0, count: V)
            for o in 0..<V { for i in 0..<d { logits[o] += h[t * d + i] * w[o * d + i] } }
            let m = logits.max()!
            let lse = m + log(logits.reduce(0) { $0 + exp($1 - m) })
            loss += lse - logits[targets[t]]
        }
        return loss
    }
}

// MARK: - Tests

@Suite struct OpsGradientTests {
    @Test func rmsNorm() {
        var data = TestData(1)
        let T = 5, d = 12
        let eps: Float = 1e-5
        let x = data.floats(T * d, scale: 2), w = data.floats(d), R = data.floats(T * d)
        var out = [Float](repeating: 0, count: T * d), inv = [Float](repeating: 0, count: T)
        RMSNorm.forward(x, w, eps: eps, &out, invRMS: &inv, tokens: T, dim: d)
        let ref = Ref.rmsNorm(dbl(x), dbl(w), eps: Double(eps), T: T, d: d)
        #expect(maxAbsDiff(out, ref) <= 1e-5)

        // Backward accumulates into dx / dw: start from non-zero buffers and subtract.
        let dx0 = data.floats(T * d), dw0 = data.floats(d)
        var dx = dx0, dw = dw0
        RMSNorm.backward(R, x, w, invRMS: inv, dx: &dx, dw: &dw, tokens: T, dim: d)
        let gx = zip(dx, dx0).map { $0 - $1 }, gw = zip(dw, dw0).map { $0 - $1 }
        let r = dbl(R)
        checkGradient("rmsnorm dx", gx, numericGradient(dbl(x)) { dot(Ref.rmsNorm($0, dbl(w), eps: Double(eps), T: T, d: d), r) })
        checkGradient("rmsnorm dw", gw, numericGradient(dbl(w)) { dot(Ref.rmsNorm(dbl(x), $0, eps: Double(eps), T: T, d: d), r) })
    }

    @Test func swiglu() {
        var data = TestData(2)
        let n = 5 * 16
        let g = data.floats(n, scale: 4), u = data.floats(n, scale: 2), R = data.floats(n)
        var out = [Float](repeating: 0, count: n)
        SwiGLU.forward(g, u, &out, count: n)
        #expect(maxAbsDiff(out, Ref.swiglu(dbl(g), dbl(u))) <= 1e-5)

        var dg = [Float](repeating: 0, count: n), du = dg
        SwiGLU.backward(R, g, u, dg: &dg, du: &du, count: n)
        let r = dbl(R)
        checkGradient("swiglu dg", dg, numericGradient(dbl(g)) { dot(Ref.swiglu($0, dbl(u)), r) })
        checkGradient("swiglu du", du, numericGradient(dbl(u)) { dot(Ref.swiglu(dbl(g), $0), r) })

        // In place (dg aliases g, du aliases u) gives the same gradients.
        var gi = g, ui = u
        gi.withUnsafeMutableBufferPointer { gp in ui.withUnsafeMutableBufferPointer { up in
            SwiGLU.backward(R, gp.baseAddress!, up.baseAddress!, dg: gp.baseAddress!, du: up.baseAddress!, count: n)
        } }
        do { let same = gi == dg && ui == du; #expect(same) }
    }

    private static func invFreq(hd: Int, base: Float = 10000) -> [Float] {
        (0..<(hd / 2)).map { i in 1 / powf(base, Float(2 * i) / Float(hd)) }
    }

    @Test func rope() {
        var data = TestData(3)
        let heads = 2, hd = 8
        let positions = [4, 0, 1, 2, 9]   // packed: a sequence tail then a new one from 0
        let T = positions.count, n = T * heads * hd
        let invFreq = Self.invFreq(hd: hd)
        let table = RoPETable(invFreq: invFreq, positions: positions)
        let x = data.floats(n), R = data.floats(n)
        var y = x
        table.forward(&y, heads: heads, headDim: hd)
        #expect(maxAbsDiff(y, Ref.rope(dbl(x), positions: positions, heads: heads, hd: hd, invFreq: invFreq)) <= 1e-5)

        var dx = R
        table.backward(&dx, heads: heads, headDim: hd)
        let r = dbl(R)
        checkGradient("rope dx", dx, numericGradient(dbl(x)) {
            dot(Ref.rope($0, positions: positions, heads: heads, hd: hd, invFreq: invFreq), r)
        })
        // Backward undoes forward (a rotation): R(−θ) R(θ) x = x.
        table.backward(&y, heads: heads, headDim: hd)
        #expect(maxAbsDiff(y, dbl(x)) <= 1e-6)
    }

    private struct AttentionResult { var out: [Float]; var dq: [Float]; var dk: [Float]; var dv: [Float] }

    private static func runAttention(q: [Float], k: [Float], v: [Float], dout: [Float], T: Int,
                                     shape: AttentionShape) -> AttentionResult {
        var out = [Float](repeating: 0, count: T * shape.qWidth)
        var probs = [Float](repeating: .nan, count: shape.heads * T * T)
        Attention.forward(q: q, k: k, v: v, out: &out, probs: &probs, tokens: T, shape: shape)
        var dq = [Float](repeating: .nan, count: T * shape.qWidth)
        var dk = [Float](repeating: .nan, count: T * shape.kvWidth), dv = dk
        var scratch = [Float](repeating: .nan, count: shape.heads * T * T)
        Attention.backward(dout: dout, q: q, k: k, v: v, probs: probs, dq: &dq, dk: &dk, dv: &dv,
                              scratch: &scratch, tokens: T, shape: shape)
        return AttentionResult(out: out, dq: dq, dk: dk, dv: dv)
    }

    /// T = 130 spans three blocks of `Attention.block` (the last one partial), which run as
    /// separate parallel items in both passes.
    @Test(arguments: [(2, 1, 5), (4, 2, 5), (2, 2, 5), (2, 1, 130)])
    func attention(heads: Int, kvHeads: Int, T: Int) {
        var data = TestData(4 + UInt64(heads * 10 + kvHeads))
        let hd = T > Attention.block ? 2 : 4
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: hd)
        let q = data.floats(T * shape.qWidth, scale: 2), k = data.floats(T * shape.kvWidth, scale: 2)
        let v = data.floats(T * shape.kvWidth), R = data.floats(T * shape.qWidth)
        let res = Self.runAttention(q: q, k: k, v: v, dout: R, T: T, shape: shape)
        let ref = Ref.attention(q: dbl(q), k: dbl(k), v: dbl(v), T: T, nh: heads, nkv: kvHeads, hd: hd)
        #expect(maxAbsDiff(res.out, ref) <= 1e-5)

        let r = dbl(R)
        func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
            dot(Ref.attention(q: q, k: k, v: v, T: T, nh: heads, nkv: kvHeads, hd: hd), r)
        }
        checkGradient("attention dq", res.dq, numericGradient(dbl(q)) { loss($0, dbl(k), dbl(v)) })
        checkGradient("attention dk", res.dk, numericGradient(dbl(k)) { loss(dbl(q), $0, dbl(v)) })
        checkGradient("attention dv", res.dv, numericGradient(dbl(v)) { loss(dbl(q), dbl(k), $0) })
    }

    @Test func attentionSingleToken() {
        // One token attends only to itself: out = v of its kv head; dv = dout summed over the
        // group; dq = dk = 0 (softmax over one score is constant).
        var data = TestData(5)
        let shape = AttentionShape(heads: 4, kvHeads: 2, headDim: 8)
        let q = data.floats(shape.qWidth), k = data.floats(shape.kvWidth), v = data.floats(shape.kvWidth)
        let R = data.floats(shape.qWidth)
        let res = Self.runAttention(q: q, k: k, v: v, dout: R, T: 1, shape: shape)
        for h in 0..<4 {
            let kh = h / 2
            #expect(Array(res.out[(h * 8)..<(h * 8 + 8)]) == Array(v[(kh * 8)..<(kh * 8 + 8)]))
        }
        for kh in 0..<2 {
            for e in 0..<8 {
                let want = R[(2 * kh) * 8 + e] + R[(2 * kh + 1) * 8 + e]
                #expect(abs(res.dv[kh * 8 + e] - want) <= 1e-6)
            }
        }
        #expect(res.dq.allSatisfy { $0 == 0 } && res.dk.allSatisfy { $0 == 0 })
    }

    @Test(arguments: [Float(0), Float(0.3)])
    func loraLinear(dropout: Float) {
        var data = TestData(6)
        let m = 5, din = 12, dout = 10, r = 4
        let shape = LoRAShape(inFeatures: din, outFeatures: dout, rank: r, alpha: 8, dropout: dropout)
        let W = DenseMatrix(rows: dout, cols: din, data: data.floats(dout * din))
        let x = data.floats(m * din), A = data.floats(r * din), B = data.floats(dout * r), R = data.floats(m * dout)
        var rng = SeededRNG(seed: 42)
        var y = [Float](repeating: .nan, count: m * dout)
        var cache = LoRACache()
        try! Ops.loraLinearForward(x, m: m, w: W, a: A, b: B, shape: shape, rng: &rng, &y, cache: &cache)

        if dropout > 0 {
            #expect(cache.mask.count == m * din)
            let keep = 1 / (1 - dropout)
            #expect(cache.mask.allSatisfy { $0 == 0 || $0 == keep })
            let dropped = cache.mask.filter { $0 == 0 }.count
            #expect(dropped > 0 && dropped < m * din)
        } else {
            #expect(cache.mask.isEmpty)
        }
        let mask = cache.mask
        let s = Double(shape.scaling)
        let ref = Ref.lora(x: dbl(x), w: dbl(W.data), a: dbl(A), b: dbl(B), mask: mask, m: m, din: din, dout: dout, r: r, scaling: s)
        #expect(maxAbsDiff(y, ref) <= 1e-5)

        // All three gradients accumulate: start from non-zero buffers.
        let dx0 = data.floats(m * din), da0 = data.floats(r * din), db0 = data.floats(dout * r)
        var dx = dx0, dA = da0, dB = db0
        try! Ops.loraLinearBackward(R, x: x, m: m, w: W, a: A, b: B, shape: shape, cache: cache, dx: &dx, da: &dA, db: &dB)
        let rr = dbl(R)
        func loss(_ x: [Double], _ a: [Double], _ b: [Double]) -> Double {
            dot(Ref.lora(x: x, w: dbl(W.data), a: a, b: b, mask: mask, m: m, din: din, dout: dout, r: r, scaling: s), rr)
        }
        checkGradient("lora dx", zip(dx, dx0).map { $0 - $1 }, numericGradient(dbl(x)) { loss($0, dbl(A), dbl(B)) })
        checkGradient("lora dA", zip(dA, da0).map { $0 - $1 }, numericGradient(dbl(A)) { loss(dbl(x), $0, dbl(B)) })
        checkGradient("lora dB", zip(dB, db0).map { $0 - $1 }, numericGradient(dbl(B)) { loss(dbl(x), dbl(A), $0) })
    }

    /// q/k/v-style groups: the grouped LoRA products give what each member's own forward and
    /// backward give (same outputs, caches and accumulated gradients, to fp32 rounding).
    @Test func loraGroupMatchesMembers() {
        var data = TestData(11)
        let m = 37, din = 24, outs = [24, 8, 8], ranks = [4, 4, 2]
        let x = data.floats(m * din)
        let members = zip(outs, ranks).map { dout, r in
            (w: DenseMatrix(rows: dout, cols: din, data: data.floats(dout * din)), a: data.floats(r * din),
             b: data.floats(dout * r), shape: LoRAShape(inFeatures: din, outFeatures: dout, rank: r, alpha: 8, dropout: 0))
        }
        let dys = outs.map { data.floats(m * $0) }
        let dx0 = data.floats(m * din)
        let da0 = ranks.map { data.floats($0 * din) }, db0 = zip(outs, ranks).map { data.floats($0 * $1) }

        // One by one.
        var rng = SeededRNG(seed: 1)
        var ys1: [[Float]] = [], caches1: [LoRACache] = []
        var dx1 = dx0, da1 = da0, db1 = db0
        for (t, mb) in members.enumerated() {
            var y = [Float](repeating: .nan, count: m * outs[t]), c = LoRACache()
            try! Ops.loraLinearForward(x, m: m, w: mb.w, a: mb.a, b: mb.b, shape: mb.shape, rng: &rng, &y, cache: &c)
            ys1.append(y); caches1.append(c)
        }
        for (t, mb) in members.enumerated() {
            try! Ops.loraLinearBackward(dys[t], x: x, m: m, w: mb.w, a: mb.a, b: mb.b, shape: mb.shape, cache: caches1[t],
                                   dx: &dx1, da: &da1[t], db: &db1[t])
        }

        // Grouped.
        let ws = LoRAGroupWorkspace()
        var ys2 = outs.map { [Float](repeating: .nan, count: m * $0) }
        var caches2 = [LoRACache](repeating: LoRACache(), count: 3)
        var dx2 = dx0, da2 = da0, db2 = db0
        let ptrs = members.map { mb in
            (a: UnsafeMutablePointer<Float>.allocate(capacity: mb.a.count), b: UnsafeMutablePointer<Float>.allocate(capacity: mb.b.count))
        }
        defer { for p in ptrs { p.a.deallocate(); p.b.deallocate() } }
        for (p, mb) in zip(ptrs, members) { p.a.update(from: mb.a, count: mb.a.count); p.b.update(from: mb.b, count: mb.b.count) }
        let group = zip(members, ptrs).map { LoRAMember(w: $0.w, a: UnsafePointer($1.a), b: UnsafePointer($1.b), shape: $0.shape) }
        let yp = ys2.indices.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: m * 24) }
        defer { for p in yp { p.deallocate() } }
        try! Ops.loraGroupForward(x, m: m, members: group, outputs: yp, caches: &caches2, workspace: ws)
        for t in 0..<3 { ys2[t] = Array(UnsafeBufferPointer(start: yp[t], count: m * outs[t])) }
        let gp = (0..<3).map { t in (a: UnsafeMutablePointer<Float>.allocate(capacity: da2[t].count),
                                     b: UnsafeMutablePointer<Float>.allocate(capacity: db2[t].count)) }
        defer { for p in gp { p.a.deallocate(); p.b.deallocate() } }
        for t in 0..<3 { gp[t].a.update(from: da2[t], count: da2[t].count); gp[t].b.update(from: db2[t], count: db2[t].count) }
        dx2.withUnsafeMutableBufferPointer { dxp in
            dys[0].withUnsafeBufferPointer { d0 in dys[1].withUnsafeBufferPointer { d1 in dys[2].withUnsafeBufferPointer { d2 in
                try! Ops.loraGroupBackward([d0.baseAddress!, d1.baseAddress!, d2.baseAddress!], x: x, m: m, members: group,
                                      caches: caches2, dx: dxp.baseAddress!, da: gp.map(\.a), db: gp.map(\.b), workspace: ws)
            } } }
        }
        for t in 0..<3 {
            da2[t] = Array(UnsafeBufferPointer(start: gp[t].a, count: da2[t].count))
            db2[t] = Array(UnsafeBufferPointer(start: gp[t].b, count: db2[t].count))
        }
        for t in 0..<3 {
            #expect(maxAbsDiff(ys2[t], dbl(ys1[t])) <= 1e-5)
            #expect(maxAbsDiff(caches2[t].xa, dbl(caches1[t].xa)) <= 1e-5)
            #expect(maxAbsDiff(da2[t], dbl(da1[t])) <= 1e-4)
            #expect(maxAbsDiff(db2[t], dbl(db1[t])) <= 1e-4)
            #expect(maxAbsDiff(da2[t], dbl(da0[t])) > 1e-2, "dA accumulated")
        }
        #expect(maxAbsDiff(dx2, dbl(dx1)) <= 1e-4)
    }

    @Test func loraDropoutMaskIsSeeded() {
        var data = TestData(7)
        let m = 3, din = 8, dout = 4
        let shape = LoRAShape(inFeatures: din, outFeatures: dout, rank: 2, alpha: 4, dropout: 0.5)
        let W = DenseMatrix(rows: dout, cols: din, data: data.floats(dout * din))
        let x = data.floats(m * din), A = data.floats(2 * din), B = data.floats(dout * 2)
        func mask(seed: UInt64) -> [Float] {
            var rng = SeededRNG(seed: seed), cache = LoRACache()
            var y = [Float](repeating: 0, count: m * dout)
            try! Ops.loraLinearForward(x, m: m, w: W, a: A, b: B, shape: shape, rng: &rng, &y, cache: &cache)
            return cache.mask
        }
        #expect(mask(seed: 1) == mask(seed: 1))
        #expect(mask(seed: 1) != mask(seed: 2))
    }

    private struct CEResult { var loss: Double; var count: Int; var dh: [Float] }

    private static func runCE(h: [Float], head: DenseMatrix, targets: [Int], T: Int, d: Int, chunk: Int,
                              gradScale: Float, dh0: [Float]) throws -> CEResult {
        var dh = dh0
        let r = try Ops.crossEntropy(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: chunk,
                                     gradScale: gradScale, dh: &dh)
        return CEResult(loss: r.loss, count: r.count, dh: dh)
    }

    @Test func crossEntropy() throws {
        var data = TestData(8)
        let T = 6, d = 10, V = 23
        let head = DenseMatrix(rows: V, cols: d, data: data.floats(V * d))
        let h = data.floats(T * d, scale: 2)
        let targets = [3, -100, 22, 0, -100, 7]
        let dh0 = data.floats(T * d)
        let count = 4
        let scale = 1 / Float(count)
        let res = try Self.runCE(h: h, head: head, targets: targets, T: T, d: d, chunk: T, gradScale: scale, dh0: dh0)
        let refLoss = Ref.crossEntropy(h: dbl(h), w: dbl(head.data), targets: targets, T: T, d: d, V: V)
        #expect(res.count == count)
        #expect(abs(res.loss - refLoss) <= 1e-5 * max(1, abs(refLoss)))

        // Untrained positions are untouched; trained ones get scale · ∂loss/∂h added.
        for t in [1, 4] { #expect(Array(res.dh[(t * d)..<(t * d + d)]) == Array(dh0[(t * d)..<(t * d + d)])) }
        let numeric = numericGradient(dbl(h)) {
            Double(scale) * Ref.crossEntropy(h: $0, w: dbl(head.data), targets: targets, T: T, d: d, V: V)
        }
        checkGradient("cross-entropy dh", zip(res.dh, dh0).map { $0 - $1 }, numeric)

        // Chunking only changes how many positions share one LM-head product; each row's
        // logits, loss term and dh row are computed the same way, so results are identical
        // (where the kernels round a row alike in any call: `expectSameUpToCallShape`).
        for chunk in [1, 2, 3, 100] {
            let c = try Self.runCE(h: h, head: head, targets: targets, T: T, d: d, chunk: chunk, gradScale: scale, dh0: dh0)
            #expect(c.count == res.count)
            expectSameUpToCallShape(c.loss, res.loss, "chunk \(chunk) loss vs chunk \(T)")
            expectSameUpToCallShape(c.dh, res.dh, "chunk \(chunk) dh vs chunk \(T)")
        }

        // Loss only (no dh) gives the same loss.
        let lossOnly = try Ops.crossEntropy(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: 2, dh: nil)
        #expect(abs(lossOnly.loss - res.loss) <= 1e-6 * abs(res.loss) && lossOnly.count == count)
    }

    @Test func crossEntropyManyRowsAcrossWorkers() throws {
        // Enough rows per chunk that they are split over workers: the same bits at every worker
        // count, and the results of one row at a time.
        var data = TestData(10)
        let T = 40, d = 16, V = 23
        let head = DenseMatrix(rows: V, cols: d, data: data.floats(V * d))
        let h = data.floats(T * d, scale: 2)
        let targets = (0..<T).map { $0 % 7 == 3 ? -100 : Int(data.rng.next() % UInt64(V)) }
        let dh0 = data.floats(T * d)
        let whole = try Self.runCE(h: h, head: head, targets: targets, T: T, d: d, chunk: T, gradScale: 0.1, dh0: dh0)
        let single = try Self.runCE(h: h, head: head, targets: targets, T: T, d: d, chunk: 1, gradScale: 0.1, dh0: dh0)
        for w in [1, 3, 8] {
            let again = try Parallel.withWorkers(w) {
                try Self.runCE(h: h, head: head, targets: targets, T: T, d: d, chunk: T, gradScale: 0.1, dh0: dh0)
            }
            let same = again.loss == whole.loss && again.dh == whole.dh
            #expect(same, "\(w) workers")
        }
        expectSameUpToCallShape(whole.loss, single.loss, "chunk \(T) vs 1: loss")
        expectSameUpToCallShape(whole.dh, single.dh, "chunk \(T) vs 1: dh")
        #expect(whole.count == single.count)
        let ref = Ref.crossEntropy(h: dbl(h), w: dbl(head.data), targets: targets, T: T, d: d, V: V)
        #expect(abs(whole.loss - ref) <= 1e-5 * abs(ref))
        #expect(whole.count == targets.filter { $0 != -100 }.count)
    }

    @Test func crossEntropyNoTrainedTokens() throws {
        let head = DenseMatrix(rows: 5, cols: 2, data: [Float](repeating: 1, count: 10))
        var dh: [Float] = [1, 2, 3, 4]
        let r = try Ops.crossEntropy(h: [0.5, 0.5, 1, 1], tokens: 2, dim: 2, head: head, targets: [-100, -100], chunk: 4, dh: &dh)
        #expect(r.loss == 0 && r.count == 0 && dh == [1, 2, 3, 4])
    }

    @Test func crossEntropyRejectsBadTargets() {
        let head = DenseMatrix(rows: 5, cols: 2, data: [Float](repeating: 1, count: 10))
        let h: [Float] = [0.5, 0.5, 1, 1]
        for bad in [[0, 5], [-1, 0], [-100]] {
            #expect(throws: OpsError.self) {
                _ = try Ops.crossEntropy(h: h, tokens: 2, dim: 2, head: head, targets: bad, chunk: 4, dh: nil)
            }
        }
        #expect(throws: OpsError.self) {
            _ = try Ops.crossEntropy(h: h, tokens: 2, dim: 2, head: head, targets: [0, 1], chunk: 0, dh: nil)
        }
    }
}

/// The ops composed into one Llama/Qwen2 decoder layer with LoRA on all seven projections,
/// then the final norm and the chunked loss: checks that the overwrite / accumulate conventions
/// compose (residual streams, q/k/v and gate/up sharing their input) against a Double reference.
@Suite struct OpsComposedLayerTests {
    struct Adapter {
        let name: String
        let shape: LoRAShape
        let w: DenseMatrix
        var a: [Float], b: [Float]
    }

    @Test func decoderLayerGradients() throws {
        var data = TestData(9)
        let T = 5, d = 8, ff = 12, V = 23, r = 2, hd = 4
        let att = AttentionShape(heads: 2, kvHeads: 1, headDim: hd)
        let eps: Float = 1e-6
        func adapter(_ name: String, _ din: Int, _ dout: Int) -> Adapter {
            Adapter(name: name, shape: LoRAShape(inFeatures: din, outFeatures: dout, rank: r, alpha: 4, dropout: 0.2),
                    w: DenseMatrix(rows: dout, cols: din, data: data.floats(dout * din, scale: 0.5)),
                    a: data.floats(r * din, scale: 0.5), b: data.floats(dout * r, scale: 0.5))
        }
        var ad = [adapter("q", d, att.qWidth), adapter("k", d, att.kvWidth), adapter("v", d, att.kvWidth),
                  adapter("o", att.qWidth, d), adapter("gate", d, ff), adapter("up", d, ff), adapter("down", ff, d)]
        let w1 = data.floats(d), w2 = data.floats(d), wf = data.floats(d)
        let head = DenseMatrix(rows: V, cols: d, data: data.floats(V * d))
        let x = data.floats(T * d)
        let targets = [5, -100, 0, 22, 9]
        let positions = Array(0..<T)
        let invFreq = (0..<(hd / 2)).map { i in 1 / powf(10000, Float(2 * i) / Float(hd)) }
        let table = RoPETable(invFreq: invFreq, positions: positions)
        let scale: Float = 1 / 4

        // Float forward through the ops.
        var rng = SeededRNG(seed: 3)
        var caches = [LoRACache](repeating: LoRACache(), count: 7)
        func lora(_ i: Int, _ input: [Float], _ out: inout [Float]) {
            try! Ops.loraLinearForward(input, m: T, w: ad[i].w, a: ad[i].a, b: ad[i].b, shape: ad[i].shape, rng: &rng,
                                  &out, cache: &caches[i])
        }
        func zeros(_ n: Int) -> [Float] { [Float](repeating: 0, count: n) }
        var h1 = zeros(T * d), inv1 = zeros(T)
        RMSNorm.forward(x, w1, eps: eps, &h1, invRMS: &inv1, tokens: T, dim: d)
        var q = zeros(T * att.qWidth), k = zeros(T * att.kvWidth), v = zeros(T * att.kvWidth)
        lora(0, h1, &q); lora(1, h1, &k); lora(2, h1, &v)
        table.forward(&q, heads: att.heads, headDim: hd)
        table.forward(&k, heads: att.kvHeads, headDim: hd)
        var a = zeros(T * att.qWidth), probs = zeros(att.heads * T * T)
        Attention.forward(q: q, k: k, v: v, out: &a, probs: &probs, tokens: T, shape: att)
        var o = zeros(T * d)
        lora(3, a, &o)
        let x2 = zip(x, o).map { $0 + $1 }
        var h2 = zeros(T * d), inv2 = zeros(T)
        RMSNorm.forward(x2, w2, eps: eps, &h2, invRMS: &inv2, tokens: T, dim: d)
        var g = zeros(T * ff), u = zeros(T * ff), mlp = zeros(T * ff)
        lora(4, h2, &g); lora(5, h2, &u)
        SwiGLU.forward(g, u, &mlp, count: T * ff)
        var dn = zeros(T * d)
        lora(6, mlp, &dn)
        let x3 = zip(x2, dn).map { $0 + $1 }
        var hf = zeros(T * d), invf = zeros(T)
        RMSNorm.forward(x3, wf, eps: eps, &hf, invRMS: &invf, tokens: T, dim: d)

        // Backward: loss → final norm → MLP → residual → attention → residual → input.
        var dhf = zeros(T * d)
        let (loss, count) = try Ops.crossEntropy(h: hf, tokens: T, dim: d, head: head, targets: targets, chunk: 2,
                                                 gradScale: scale, dh: &dhf)
        #expect(count == 4)
        var da = ad.map { zeros($0.a.count) }, db = ad.map { zeros($0.b.count) }
        func loraBack(_ i: Int, _ dy: [Float], _ input: [Float], _ dx: inout [Float]) {
            try! Ops.loraLinearBackward(dy, x: input, m: T, w: ad[i].w, a: ad[i].a, b: ad[i].b, shape: ad[i].shape,
                                   cache: caches[i], dx: &dx, da: &da[i], db: &db[i])
        }
        var dx3 = zeros(T * d)
        RMSNorm.backward(dhf, x3, wf, invRMS: invf, dx: &dx3, tokens: T, dim: d)
        var dx2 = dx3                                   // residual: x3 = x2 + down(...)
        var dmlp = zeros(T * ff)
        loraBack(6, dx3, mlp, &dmlp)
        var dg = zeros(T * ff), du = zeros(T * ff)
        SwiGLU.backward(dmlp, g, u, dg: &dg, du: &du, count: T * ff)
        var dh2 = zeros(T * d)
        loraBack(4, dg, h2, &dh2); loraBack(5, du, h2, &dh2)
        RMSNorm.backward(dh2, x2, w2, invRMS: inv2, dx: &dx2, tokens: T, dim: d)
        var dx = dx2                                    // residual: x2 = x + o(...)
        var dAtt = zeros(T * att.qWidth)
        loraBack(3, dx2, a, &dAtt)
        var dq = zeros(T * att.qWidth), dk = zeros(T * att.kvWidth), dv = zeros(T * att.kvWidth), s = zeros(att.heads * T * T)
        Attention.backward(dout: dAtt, q: q, k: k, v: v, probs: probs, dq: &dq, dk: &dk, dv: &dv, scratch: &s,
                              tokens: T, shape: att)
        table.backward(&dq, heads: att.heads, headDim: hd)
        table.backward(&dk, heads: att.kvHeads, headDim: hd)
        var dh1 = zeros(T * d)
        loraBack(0, dq, h1, &dh1); loraBack(1, dk, h1, &dh1); loraBack(2, dv, h1, &dh1)
        RMSNorm.backward(dh1, x, w1, invRMS: inv1, dx: &dx, tokens: T, dim: d)

        // Double reference of the same layer (same dropout masks).
        let masks = caches.map(\.mask)
        func refLoss(x: [Double], a: [[Double]], b: [[Double]]) -> Double {
            func lo(_ i: Int, _ input: [Double]) -> [Double] {
                Ref.lora(x: input, w: dbl(ad[i].w.data), a: a[i], b: b[i], mask: masks[i], m: T,
                         din: ad[i].shape.inFeatures, dout: ad[i].shape.outFeatures, r: r, scaling: Double(ad[i].shape.scaling))
            }
            let h1 = Ref.rmsNorm(x, dbl(w1), eps: Double(eps), T: T, d: d)
            let q = Ref.rope(lo(0, h1), positions: positions, heads: att.heads, hd: hd, invFreq: invFreq)
            let k = Ref.rope(lo(1, h1), positions: positions, heads: att.kvHeads, hd: hd, invFreq: invFreq)
            let at = Ref.attention(q: q, k: k, v: lo(2, h1), T: T, nh: att.heads, nkv: att.kvHeads, hd: hd)
            let x2 = zip(x, lo(3, at)).map { $0 + $1 }
            let h2 = Ref.rmsNorm(x2, dbl(w2), eps: Double(eps), T: T, d: d)
            let m = Ref.swiglu(lo(4, h2), lo(5, h2))
            let x3 = zip(x2, lo(6, m)).map { $0 + $1 }
            let hf = Ref.rmsNorm(x3, dbl(wf), eps: Double(eps), T: T, d: d)
            return Ref.crossEntropy(h: hf, w: dbl(head.data), targets: targets, T: T, d: d, V: V)
        }
        let A0 = ad.map { dbl($0.a) }, B0 = ad.map { dbl($0.b) }
        let ref = refLoss(x: dbl(x), a: A0, b: B0)
        #expect(abs(loss - ref) <= 1e-5 * abs(ref), "loss \(loss) vs reference \(ref)")

        let sd = Double(scale)
        checkGradient("layer dx", dx, numericGradient(dbl(x)) { sd * refLoss(x: $0, a: A0, b: B0) })
        for i in 0..<ad.count {
            checkGradient("layer dA \(ad[i].name)", da[i], numericGradient(A0[i]) { ai in
                var a = A0; a[i] = ai; return sd * refLoss(x: dbl(x), a: a, b: B0)
            })
            checkGradient("layer dB \(ad[i].name)", db[i], numericGradient(B0[i]) { bi in
                var b = B0; b[i] = bi; return sd * refLoss(x: dbl(x), a: A0, b: b)
            })
        }
    }
}
