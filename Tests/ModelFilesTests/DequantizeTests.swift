import Testing
@testable import ModelFiles

/// Dequantisation against gguf-py's `gguf.quants.dequantize` (scripts/make_quant_references.py
/// stores its output next to each tensor as "<name>.expected", F32).
@Suite struct DequantizeTests {
    static let file = Fixture.quant("quant_types.gguf")

    static let cases: [(String, TensorType)] = [
        ("F32", .f32), ("F16", .f16), ("BF16", .bf16), ("Q8_0", .q8_0), ("Q4_0", .q4_0), ("Q4_1", .q4_1),
        ("Q5_0", .q5_0), ("Q5_1", .q5_1), ("Q4_K", .q4_K), ("Q5_K", .q5_K), ("Q6_K", .q6_K),
        ("Q8_0_3d", .q8_0), ("F32_4d", .f32),
    ]

    @Test(arguments: cases)
    func matchesGGUFPy(name: String, type: TensorType) throws {
        let gguf = try GGUFFile(path: Self.file)
        let t = try gguf.tensor(name)
        let expected = try gguf.tensor(name + ".expected")
        #expect(t.type == type)
        #expect(expected.type == .f32)
        #expect(t.shape == expected.shape)
        let want = expected.floats()
        #expect(firstMismatch(t.floats(), want) == nil, "\(name): \(firstMismatch(t.floats(), want) ?? "")")

        // Row by row from block-aligned starts, as the forward pass uses it (embedding rows).
        let cols = try #require(t.shape.last)
        let rows = t.count / cols
        var row = [Float](repeating: .nan, count: cols)
        for r in 0 ..< rows {
            row.withUnsafeMutableBufferPointer {
                dequantize(t.type, t.data + r * t.type.rowBytes(cols), count: cols, into: $0.baseAddress!)
            }
            #expect(firstMismatch(row, Array(want[r * cols ..< (r + 1) * cols])) == nil, "\(name) row \(r)")
        }
    }

    @Test func everyTypeIsCovered() throws {
        let covered = Set(Self.cases.map(\.1.name))
        #expect(covered == Set(TensorType.allCases.map(\.name)))
    }

    /// Block geometry against gguf-py's GGML_QUANT_SIZES, through the byte sizes GGUFReader reported.
    @Test func blockSizesMatchGGUFReader() throws {
        let summary = try Fixture.json(Fixture.quant("quant_types_summary.json"))
        let gguf = try GGUFFile(path: Self.file)
        for entry in try #require(summary["tensors"] as? [[String: Any]]) {
            let name = try #require(entry["name"] as? String)
            let t = try gguf.tensor(name)
            #expect(t.byteCount == jsonInt(entry["n_bytes"]), "\(name)")
            #expect(t.type.rowBytes(t.count) == t.byteCount)
        }
        #expect(TensorType.q4_K.blockSize == 256 && TensorType.q4_K.blockBytes == 144)
        #expect(TensorType.q4_1.rowBytes(576) == 18 * 20)
    }
}
