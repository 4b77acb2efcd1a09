import Kernels
import QuantDot512
import ModelFiles

/// A frozen weight matrix W[rows×cols] (PyTorch layout: rows = outputs) in its stored type,
/// with an optional bias. `forward` computes Y[m×rows] = X[m×cols] · Wᵀ (+ b).
public final class Linear: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let type: TensorType
    public let data: UnsafeRawPointer
    public let rowBytes: Int
    public let bias: [Float]?
    /// An unmerged LoRA update added by `forward` (inference with an adapter; the base stays
    /// quantised). Training does not use it: it keeps the adapter's gradients itself.
    public let lora: LoRADelta?
    /// Keeps the mapping (or an owned copy) alive as long as the weights are used.
    private let owner: AnyObject

    init(rows: Int, cols: Int, type: TensorType, data: UnsafeRawPointer, owner: AnyObject, bias: [Float]?,
         lora: LoRADelta? = nil) {
        self.rows = rows; self.cols = cols; self.type = type; self.data = data
        self.rowBytes = type.rowBytes(cols); self.owner = owner; self.bias = bias; self.lora = lora
    }

    /// The same frozen weights (shared, not copied) with `delta` added in `forward`.
    public func withLoRA(_ delta: LoRADelta?) throws -> Linear {
        if let delta {
            guard delta.a.count == delta.rank * cols, delta.b.count == rows * delta.rank else {
                throw ModelLoadError("LoRA delta of rank \(delta.rank) does not fit a \(rows)×\(cols) weight")
            }
        }
        return Linear(rows: rows, cols: cols, type: type, data: data, owner: owner, bias: bias, lora: delta)
    }

    /// Batches up to this many rows go through the fused quantised dot; larger ones through sgemm.
    package static let gemvMaxRows = 4
    /// Rows dequantised per sgemm call: bounds the scratch buffer (≤ 4 M floats = 16 MB).
    var chunkRows: Int { max(1, min(rows, (4 << 20) / cols)) }

    /// Dequantises rows [r0, r0+n) into `out` (n × cols).
    public func dequantizeRows(_ r0: Int, _ n: Int, into out: UnsafeMutablePointer<Float>) {
        if type == .f32 {
            out.update(from: (data + r0 * rowBytes).assumingMemoryBound(to: Float.self), count: n * cols)
            return
        }
        Parallel.forEachRange(n, minPerWorker: 16) { range in
            for r in range {
                dequantize(type, data + (r0 + r) * rowBytes, count: cols, into: out + r * cols)
            }
        }
    }

    /// Y = X Wᵀ (+ b) (+ the LoRA delta). Up to `gemvMaxRows` rows, or any number with `rowDots`,
    /// every output row is computed by the fused quantised row-dot kernel, on its own: its result
    /// does not depend on m (what batched decoding relies on to match one-at-a-time decoding).
    /// Otherwise blocks of W are dequantised and multiplied with sgemm.
    public func forward(_ x: UnsafePointer<Float>, m: Int, _ y: UnsafeMutablePointer<Float>, scratch: Scratch,
                        rowDots: Bool = false) throws {
        if m <= Linear.gemvMaxRows || rowDots {
            try gemv(x, m: m, y, scratch: scratch)
        } else if type == .f32 {
            BLAS.gemm(transB: true, m: m, n: rows, k: cols, a: x, lda: cols,
                      b: data.assumingMemoryBound(to: Float.self), ldb: cols, c: y, ldc: rows)
        } else {
            let chunk = chunkRows
            let w = try scratch.buffer(.weights, chunk * cols)
            var r0 = 0
            while r0 < rows {
                let n = min(chunk, rows - r0)
                dequantizeRows(r0, n, into: w)
                BLAS.gemm(transB: true, m: m, n: n, k: cols, a: x, lda: cols, b: w, ldb: cols, c: y + r0, ldc: rows)
                r0 += n
            }
        }
        if let bias {
            bias.withUnsafeBufferPointer { b in for i in 0..<m { Vec.add(b.baseAddress!, y + i * rows, rows) } }
        }
        guard let lora else { return }
        if rowDots {
            for i in 0..<m { try lora.add(x + i * cols, m: 1, y + i * rows, rows: rows, cols: cols, scratch: scratch) }
        } else {
            try lora.add(x, m: m, y, rows: rows, cols: cols, scratch: scratch)
        }
    }

    /// dx[m×cols] += dy[m×rows] · W: the input gradient of `forward` (W stays frozen, so
    /// training never needs its gradient). Quantised rows are dequantised a block at a time.
    public func backwardInput(_ dy: UnsafePointer<Float>, m: Int, _ dx: UnsafeMutablePointer<Float>, scratch: Scratch) throws {
        if type == .f32 {
            BLAS.gemm(m: m, n: cols, k: rows, a: dy, lda: rows, b: data.assumingMemoryBound(to: Float.self), ldb: cols,
                      beta: 1, c: dx, ldc: cols)
            return
        }
        let chunk = chunkRows
        let w = try scratch.buffer(.weights, chunk * cols)
        var r0 = 0
        while r0 < rows {
            let n = min(chunk, rows - r0)
            dequantizeRows(r0, n, into: w)
            BLAS.gemm(m: m, n: cols, k: n, a: dy + r0, lda: rows, b: w, ldb: cols, beta: 1, c: dx, ldc: cols)
            r0 += n
        }
    }

    private func gemv(_ x: UnsafePointer<Float>, m: Int, _ y: UnsafeMutablePointer<Float>, scratch: Scratch) throws {
        let nb = max(1, cols / 32)
        let type = self.type, data = self.data, rowBytes = self.rowBytes, cols = self.cols, rows = self.rows
        let fused = cols % 32 == 0 && (type == .q4_1 || type == .q8_0)
        // The fused kernel reads its vectors in groups of 8 or 4: a batch of 7 (a sequence of 8
        // stopped) runs as 8 with a zero vector rather than as 4 + 1 + 1 + 1, which cost 2.5×
        // as much (each output is computed alike in any group, so the padding changes no bits).
        let mp = fused ? QuantDot.paddedCount(m) : m
        var x = x
        if mp > m {
            let xp = try scratch.buffer(.paddedX, mp * cols)
            xp.update(from: x, count: m * cols)
            (xp + m * cols).initialize(repeating: 0, count: (mp - m) * cols)
            x = UnsafePointer(xp)
        }
        // Σ x over each 32-element block, block-major (sums[b·mp + i]): the per-block min term of
        // Q4_1, loaded for 4 or 8 vectors at once.
        let sums = try scratch.buffer(.blockSums, mp * nb)
        if cols % 32 == 0 {
            for i in 0..<mp {
                for b in 0..<nb { sums[b * mp + i] = Vec.sum(x + i * cols + b * 32, 32) }
            }
        }
        // On AVX-512 CPUs the groups of 8 and 4 run in 16-lane registers, two vectors per register
        // (QuantDot512: the same bits, half the fused multiply-adds); a lone last vector stays on dot1.
        let groups = fused && m > 1 && CPUFeatures.avx512 ? QuantDot.groups(m) : []
        var xi: UnsafeMutablePointer<Float>? = nil
        if !groups.isEmpty {
            let buf = try scratch.buffer(.interleavedX, mp * cols)
            for g in groups { QuantDot512.interleave(x + g.start * cols, cols, size: g.size, cols: cols, into: buf + g.start * cols) }
            xi = buf
        }
        Parallel.forEachRange(rows, minPerWorker: 64) { range in
            if let xi {
                var r = range.lowerBound
                while r < range.upperBound {
                    let row = data + r * rowBytes, two = r + 1 < range.upperBound
                    for g in groups {
                        let xg = xi + g.start * cols, yg = y + g.start * rows + r, count = min(g.size, m - g.start)
                        if two {
                            _ = QuantDot512.dotGroupTwoRows(type, row, rowBytes, xg, size: g.size, cols, sums + g.start, mp, yg, rows, count: count)
                        } else {
                            _ = QuantDot512.dotGroup(type, row, xg, size: g.size, cols, sums + g.start, mp, yg, rows, count: count)
                        }
                    }
                    if m % 8 == 1 {
                        for i in r..<(two ? r + 2 : r + 1) {
                            y[(m - 1) * rows + i] = QuantDot.dot1(type, data + i * rowBytes, x + (m - 1) * cols, cols, sums + m - 1, mp)
                        }
                    }
                    r += two ? 2 : 1
                }
            } else if fused {
                // Each row is unpacked once per block for all m vectors (8 or 4 at a time); every
                // output is computed the same way whatever m is (so batched decoding equals
                // one-at-a-time decoding bit for bit).
                if m == 1 {
                    _ = QuantDot.dotRowsOfOneVector(type, data, rowBytes, range, x, cols, sums, y)
                } else {
                    for r in range {
                        _ = QuantDot.dotRows(type, data + r * rowBytes, x, cols, m, cols, sums, mp, y + r, rows)
                    }
                }
            } else if type == .f32 {
                for r in range {
                    let row = (data + r * rowBytes).assumingMemoryBound(to: Float.self)
                    for i in 0..<m { y[i * rows + r] = Vec.dot(row, x + i * cols, cols) }
                }
            } else {
                // Other formats: dequantise the row, then one dot per vector.
                let w = UnsafeMutablePointer<Float>.allocate(capacity: cols)
                defer { w.deallocate() }
                for r in range {
                    dequantize(type, data + r * rowBytes, count: cols, into: w)
                    for i in 0..<m { y[i * rows + r] = Vec.dot(w, x + i * cols, cols) }
                }
            }
        }
    }

    /// A copy of this matrix dequantised to fp32 (the "dequantise at load" strategy).
    public func materialized() throws -> Linear {
        if type == .f32 { return self }
        let buf = try OwnedBuffer(bytes: rows * cols * 4, for: "a \(rows)×\(cols) weight dequantised to fp32")
        dequantizeRows(0, rows, into: buf.pointer.assumingMemoryBound(to: Float.self))
        return Linear(rows: rows, cols: cols, type: .f32, data: UnsafeRawPointer(buf.pointer), owner: buf, bias: bias, lora: lora)
    }

    /// `values` (rows × cols) encoded as `type` as an export writes them (`quantizeRows`), with
    /// this matrix's bias and no LoRA delta: what a file of that type holds, in memory.
    public func replaced(by values: [Float], type: TensorType) throws -> Linear {
        let bytes = quantizeRows(type, values, rows: rows, cols: cols)
        let buf = try OwnedBuffer(bytes: bytes.count, for: "a \(rows)×\(cols) weight encoded as \(type)")
        bytes.withUnsafeBytes { buf.pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return Linear(rows: rows, cols: cols, type: type, data: UnsafeRawPointer(buf.pointer), owner: buf, bias: bias)
    }
}

/// y += scaling · (x Aᵀ) Bᵀ with A [rank × in], B [out × rank] (PEFT's lora_A / lora_B).
public struct LoRADelta: Sendable {
    public let a: [Float], b: [Float]
    public let rank: Int
    public let scaling: Float
    public init(a: [Float], b: [Float], rank: Int, scaling: Float) {
        self.a = a; self.b = b; self.rank = rank; self.scaling = scaling
    }

    func add(_ x: UnsafePointer<Float>, m: Int, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, scratch: Scratch) throws {
        guard m > 0 else { return }
        let xa = try scratch.buffer(.lora, m * rank)
        a.withUnsafeBufferPointer { ap in
            BLAS.gemm(transB: true, m: m, n: rank, k: cols, a: x, lda: cols, b: ap.baseAddress!, ldb: cols, c: xa, ldc: rank)
        }
        b.withUnsafeBufferPointer { bp in
            BLAS.gemm(transB: true, m: m, n: rows, k: rank, alpha: scaling, a: xa, lda: rank, b: bp.baseAddress!, ldb: rank,
                      beta: 1, c: y, ldc: rows)
        }
    }
}

/// Heap memory with an owner object, for weights copied out of a mapping (row-permuted or
/// dequantised). 64-byte aligned for SIMD loads.
final class OwnedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let bytes: Int
    init(bytes: Int, for purpose: @autoclosure () -> String) throws {
        self.bytes = bytes
        pointer = try LargeBuffer.allocate(bytes: bytes, for: purpose())
    }
    deinit { LargeBuffer.free(pointer) }
}

/// Reusable per-model scratch buffers, grown on demand, so a forward pass allocates nothing
/// in steady state.
public final class Scratch: @unchecked Sendable {
    enum Slot: Int, CaseIterable { case weights, blockSums, paddedX, interleavedX, scores, x, h, q, k, v, att, gate, up, act, logits, lora }
    private var buffers: [UnsafeMutablePointer<Float>?] = Array(repeating: nil, count: Slot.allCases.count)
    private var sizes: [Int] = Array(repeating: 0, count: Slot.allCases.count)

    public init() {}

    func buffer(_ slot: Slot, _ count: Int) throws -> UnsafeMutablePointer<Float> {
        let i = slot.rawValue
        if let p = buffers[i], sizes[i] >= count { return p }
        let n = max(count, sizes[i] * 3 / 2)
        if let old = buffers[i] { LargeBuffer.free(old); buffers[i] = nil; sizes[i] = 0 }
        let p = try LargeBuffer.allocate(floats: n, for: "\(n) floats of \(slot) scratch")
        p.initialize(repeating: 0, count: n)
        buffers[i] = p
        sizes[i] = n
        return p
    }

    deinit { for case let b? in buffers { LargeBuffer.free(b) } }
}
