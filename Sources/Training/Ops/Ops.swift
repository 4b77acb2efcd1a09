import Kernels

/// Training op pairs in the style of llm.c: each op's forward and backward sit side by side in
/// one file named for the op, on flat row-major Float buffers ([tokens × features]). A forward
/// returns (or fills) whatever its backward needs; the caller keeps the forward inputs alive.
/// Each backward says whether it overwrites (=) or accumulates (+=) into its gradient buffers.
/// The ops here are training's own (LoRA linear, cross-entropy through the LM head); the model's
/// ops that inference runs too — `RMSNorm`, `RoPETable`, `Attention`, `SwiGLU` — are defined
/// once in Transformer, in the same style, and called by both drivers.
enum Ops {}

/// Bad input to a training op (e.g. a label outside the vocabulary).
public struct OpsError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A frozen weight W [rows × cols] (out × in features, as HF stores Linear weights), seen only
/// through its two products so the real one can stay quantised. Conformers may add a frozen
/// bias in `forward` (no gradient flows to it).
protocol FrozenMatrix {
    var rows: Int { get }
    var cols: Int { get }
    /// y[m × rows] = x[m × cols] · Wᵀ  (overwrites y).
    func forward(_ x: UnsafePointer<Float>, m: Int, _ y: UnsafeMutablePointer<Float>) throws
    /// dx[m × cols] += dy[m × rows] · W  (accumulates).
    func backwardInput(_ dy: UnsafePointer<Float>, m: Int, _ dx: UnsafeMutablePointer<Float>) throws
}

/// A plain fp32 frozen matrix (row-major [rows × cols]).
struct DenseMatrix: FrozenMatrix {
    let rows: Int, cols: Int
    let data: [Float]

    init(rows: Int, cols: Int, data: [Float]) {
        precondition(data.count == rows * cols, "DenseMatrix: \(data.count) values for \(rows)×\(cols)")
        self.rows = rows; self.cols = cols; self.data = data
    }

    func forward(_ x: UnsafePointer<Float>, m: Int, _ y: UnsafeMutablePointer<Float>) {
        guard m > 0 else { return }
        data.withUnsafeBufferPointer { w in
            BLAS.gemm(transB: true, m: m, n: rows, k: cols, a: x, lda: cols, b: w.baseAddress!, ldb: cols, c: y, ldc: rows)
        }
    }

    func backwardInput(_ dy: UnsafePointer<Float>, m: Int, _ dx: UnsafeMutablePointer<Float>) {
        guard m > 0 else { return }
        data.withUnsafeBufferPointer { w in
            BLAS.gemm(m: m, n: cols, k: rows, a: dy, lda: rows, b: w.baseAddress!, ldb: cols, beta: 1, c: dx, ldc: cols)
        }
    }
}
