import Testing
@testable import Transformer
import Kernels

/// Linear's matrix products against a Float64 computation on its own dequantised rows, for a
/// quantised (Q4_1, SmolLM2) and a BF16 (tiny Qwen2) matrix: forward on both paths (fused
/// decode dot and dequantise + sgemm) and the input gradient used by training.
@Test(arguments: ["smollm2", "tiny-qwen2"])
func linearMatchesDenseReference(_ which: String) throws {
    let lm = try #require(which == "smollm2" ? Models.smol : Models.tinyQwen)
    let lin = lm.weights.layers[0].gate
    let rows = lin.rows, cols = lin.cols
    var w = [Float](repeating: 0, count: rows * cols)
    w.withUnsafeMutableBufferPointer { lin.dequantizeRows(0, rows, into: $0.baseAddress!) }
    var rng = SystemRandomNumberGenerator()
    let scratch = Scratch()
    for m in [1, 3, 9] {
        let x = (0..<(m * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
        var y = [Float](repeating: 0, count: m * rows)
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try lin.forward(xp.baseAddress!, m: m, $0.baseAddress!, scratch: scratch) } }
        var worst = 0.0
        for i in 0..<m {
            for r in 0..<rows {
                var s = 0.0
                for c in 0..<cols { s += Double(x[i * cols + c]) * Double(w[r * cols + c]) }
                if let b = lin.bias { s += Double(b[r]) }
                worst = max(worst, abs(s - Double(y[i * rows + r])) / max(1, abs(s)))
            }
        }
        #expect(worst < 1e-4, "\(which) forward m=\(m): \(worst)")

        let dy = (0..<(m * rows)).map { _ in Float.random(in: -1...1, using: &rng) }
        var dx = [Float](repeating: 0.5, count: m * cols)   // accumulates onto what is there
        try dy.withUnsafeBufferPointer { dp in try dx.withUnsafeMutableBufferPointer { try lin.backwardInput(dp.baseAddress!, m: m, $0.baseAddress!, scratch: scratch) } }
        var worstB = 0.0
        for i in 0..<m {
            for c in 0..<cols {
                var s = 0.5
                for r in 0..<rows { s += Double(dy[i * rows + r]) * Double(w[r * cols + c]) }
                worstB = max(worstB, abs(s - Double(dx[i * cols + c])) / max(1, abs(s)))
            }
        }
        #expect(worstB < 1e-4, "\(which) backwardInput m=\(m): \(worstB)")
    }
}

/// A KV cache (or scratch buffer) the machine cannot hold is an AllocationError naming what
/// asked for it; the cache stays usable.
@Test func impossibleKVCacheIsAnError() throws {
    let cache = KVCache(layers: 2, heads: 2, headDim: 32)
    let e = try #require(throws: AllocationError.self) { try cache.reserve(1 << 50) }
    #expect(e.description.hasPrefix("out of memory: cannot allocate") && e.description.contains("the KV cache of 1125899906842624 positions"), "\(e)")
    try cache.reserve(10)
    #expect(cache.capacity == 256)
    let s = Scratch()
    #expect(throws: AllocationError.self) { _ = try s.buffer(.x, 1 << 61) }
}
