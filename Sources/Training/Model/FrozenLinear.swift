import Kernels
import ModelFiles
import Transformer

/// What the frozen base's products compute in. LoRA factors, their gradients, norms, attention,
/// softmax and the loss stay fp32 either way.
public enum ComputeDType: String, Codable, Sendable, CaseIterable {
    /// fp32 products through OpenBLAS (the default; what the PyTorch parity tests check).
    case fp32
    /// bf16 inputs, fp32 accumulation and output (QLoRA's `bnb_4bit_compute_dtype=bfloat16`,
    /// PyTorch's CPU autocast): the activations (or output gradients) and the dequantised weights
    /// are rounded to bf16 before each frozen product. About twice as fast on CPUs with
    /// AVX512-BF16 or AMX.
    case bf16
}

/// A model's frozen (possibly quantised) projection seen as a `FrozenMatrix`: QLoRA keeps the
/// base weights in their stored type and dequantises blocks of rows inside each product.
/// The bias, if any, is added by `forward` (frozen: no gradient).
struct FrozenLinear: FrozenMatrix {
    let linear: Linear
    let scratch: Scratch
    /// Where `StepProfile` charges this matrix's products.
    var phase: StepProfile.Phase = .frozen
    /// Set when the base computes in bf16 (nil: fp32).
    var bf16: BF16Base? = nil
    /// A bf16 copy of the whole matrix made once (the LM head); nil: dequantised per product.
    var bf16Weights: UnsafePointer<UInt16>? = nil
    var rows: Int { linear.rows }
    var cols: Int { linear.cols }

    func forward(_ x: UnsafePointer<Float>, m: Int, _ y: UnsafeMutablePointer<Float>) throws {
        guard m > 0 else { return }
        try StepProfile.measure(phase) {
            guard let bf16 else { try linear.forward(x, m: m, y, scratch: scratch); return }
            try product(bf16, x, m: m, transposed: false, y)
            if let bias = linear.bias {
                bias.withUnsafeBufferPointer { b in for i in 0..<m { Vec.add(b.baseAddress!, y + i * rows, rows) } }
            }
        }
    }

    func backwardInput(_ dy: UnsafePointer<Float>, m: Int, _ dx: UnsafeMutablePointer<Float>) throws {
        guard m > 0 else { return }
        try StepProfile.measure(phase) {
            guard let bf16 else { try linear.backwardInput(dy, m: m, dx, scratch: scratch); return }
            try product(bf16, dy, m: m, transposed: true, dx)
        }
    }

    /// bf16(input) · bf16(W)ᵀ into `out` (forward: input m × cols, out m × rows, overwritten), or
    /// with `transposed` bf16(input) · bf16(W) added to `out` (input gradient: m × rows → m × cols).
    private func product(_ base: BF16Base, _ input: UnsafePointer<Float>, m: Int, transposed: Bool,
                         _ out: UnsafeMutablePointer<Float>) throws {
        let k = transposed ? rows : cols, n = transposed ? cols : rows
        let a = try base.inputs.get(m * k)
        BF16.convert(input, a, m * k)
        try BF16.gemm(transB: !transposed, m: m, n: n, k: k, a: a, lda: k, b: try weights(base), ldb: cols,
                      accumulate: transposed, c: out, ldc: n)
    }

    private func weights(_ base: BF16Base) throws -> UnsafePointer<UInt16> {
        if let bf16Weights { return bf16Weights }
        let w = try base.weights.get(rows * cols)
        BF16Base.dequantize(linear, into: w)
        return UnsafePointer(w)
    }
}

/// Buffers of a model's bf16 frozen products, shared by all its projections (one runs at a time).
final class BF16Base {
    let inputs = HalfBuffer(), weights = HalfBuffer()

    /// W (rows × cols, any stored type) → bf16, row by row: each row dequantised to fp32, then
    /// rounded (the same values the fp32 path multiplies, rounded once).
    static func dequantize(_ l: Linear, into out: UnsafeMutablePointer<UInt16>) {
        let cols = l.cols
        Parallel.forEachRange(l.rows, minPerWorker: 16) { range in
            if l.type == .f32 {
                let src = l.data.assumingMemoryBound(to: Float.self)
                BF16.convert(src + range.lowerBound * cols, out + range.lowerBound * cols, range.count * cols)
                return
            }
            let row = UnsafeMutablePointer<Float>.allocate(capacity: cols)
            defer { row.deallocate() }
            for r in range {
                ModelFiles.dequantize(l.type, l.data + r * l.rowBytes, count: cols, into: row)
                BF16.convert(row, out + r * cols, cols)
            }
        }
    }
}

/// A growable buffer of bf16 values (contents undefined after growth).
final class HalfBuffer {
    private(set) var pointer: UnsafeMutablePointer<UInt16>
    private(set) var capacity = 0

    /// Empty: memory comes with the first `get`.
    init() { pointer = LargeBuffer.placeholder.assumingMemoryBound(to: UInt16.self) }
    deinit { LargeBuffer.free(UnsafeMutableRawPointer(pointer)) }

    func get(_ n: Int) throws -> UnsafeMutablePointer<UInt16> {
        if n > capacity {
            LargeBuffer.free(UnsafeMutableRawPointer(pointer))
            pointer = LargeBuffer.placeholder.assumingMemoryBound(to: UInt16.self)
            capacity = 0
            let (bytes, overflow) = max(n, 32).multipliedReportingOverflow(by: 2)
            guard !overflow else { throw AllocationError(bytes: Int.max, purpose: "\(n) bf16 values") }
            pointer = try LargeBuffer.allocate(bytes: bytes, for: "\(n) bf16 values").bindMemory(to: UInt16.self, capacity: max(n, 32))
            capacity = n
        }
        return pointer
    }
}
