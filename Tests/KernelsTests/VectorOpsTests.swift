import Foundation
import Testing
@testable import Kernels

/// The vector exponential replaces libm's expf in softmax, SwiGLU and cross-entropy.
@Suite struct VectorOpsTests {
    @Test func expIsWithinAFewUlpOfLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88.3 {
            let v = Vec.V((0..<16).map { x + Float($0) * 0.0037 })
            let e = Vec.exp(v)
            for i in 0..<16 {
                let want = expf(v[i])
                worst = max(worst, abs(e[i] - want) / want)
            }
            x += 0.05
        }
        #expect(worst <= 4 * Float.ulpOfOne, "worst relative error \(worst)")
        // Below the smallest normal result it is 0 (also for −∞, softmax's masked entries).
        #expect(Vec.exp(Vec.V(repeating: -88)) == Vec.V())
        #expect(Vec.exp(Vec.V(repeating: -.infinity)) == Vec.V())
        #expect(Vec.exp(Vec.V(repeating: 0)) == Vec.V(repeating: 1))
        // Above the range it saturates (finite), never inf or NaN.
        #expect(Vec.exp(Vec.V(repeating: 1000)) == Vec.exp(Vec.V(repeating: 88.37)))
        #expect(Vec.exp(Vec.V(repeating: 88.37))[0].isFinite)
    }

    /// A length that is not a multiple of 16 gives each element the value the full-vector path
    /// gives it, and softmax sums to 1.
    @Test func softmaxTailsMatchTheVectorPath() {
        var rng = SeededRNG(seed: 3)
        let x = (0..<37).map { _ in rng.nextFloat() * 20 - 10 }
        var y = x
        let s = y.withUnsafeMutableBufferPointer { Vec.softmax($0.baseAddress!, 37) }
        let m = x.max()!
        for i in 0..<37 {
            let e = Vec.exp(Vec.V(repeating: x[i] - m))[0]
            #expect(abs(y[i] - e / s) <= 2 * Float.ulpOfOne * max(y[i], 1e-30))
        }
        #expect(abs(y.reduce(0, +) - 1) <= 1e-6)
        var small: [Float] = [1, 2, 3]
        small.withUnsafeMutableBufferPointer { _ = Vec.softmax($0.baseAddress!, 3) }
        let ref = [1, 2, 3].map { Foundation.exp(Double($0) - 3) }
        let total = ref.reduce(0, +)
        for i in 0..<3 { #expect(abs(Double(small[i]) - ref[i] / total) <= 1e-7) }
    }

    @Test func siluMulMatchesTheDefinition() {
        let n = 45
        let g = (0..<n).map { Float($0) * 0.4 - 9 }, u = (0..<n).map { Float($0 % 7) - 3 }
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { Vec.siluMul(g, u, $0.baseAddress!, n) }
        for i in 0..<n {
            let want = Double(g[i]) / (1 + Foundation.exp(-Double(g[i]))) * Double(u[i])
            #expect(abs(Double(out[i]) - want) <= 1e-6 * max(1, abs(want)), "\(i)")
        }
    }

    /// The maximum wherever it sits (a vector lane or the scalar tail), all-negative and −∞ rows.
    @Test func maxFindsTheLargestElementAtEveryPosition() {
        for n in [1, 15, 16, 17, 33, 100] {
            for at in 0..<n {
                var x = (0..<n).map { -Float(($0 * 37) % 11) - 1 }
                x[at] = -0.5
                #expect(x.withUnsafeBufferPointer { Vec.max($0.baseAddress!, n) } == -0.5, "n \(n) at \(at)")
            }
        }
        let masked = [Float](repeating: -.infinity, count: 40)
        #expect(masked.withUnsafeBufferPointer { Vec.max($0.baseAddress!, 40) } == -.infinity)
    }
}
