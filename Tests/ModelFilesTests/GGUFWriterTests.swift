import Foundation
import Testing
import Kernels
@testable import ModelFiles

/// writeGGUF and the quantisers against gguf-py: files gguf-py's GGUFWriter wrote, rewritten from
/// what GGUFFile reads, come out byte for byte the same; blocks quantised by gguf-py's
/// quants.py (scripts/make_gguf_export_references.py → Fixtures/gguf_export/quant_blocks.json)
/// encode identically.
@Suite struct GGUFWriterTests {
    /// Rewrites `path` (metadata in file order, the same tensors) and returns the new bytes.
    static func rewrite(_ path: String, into dir: TempDir) throws -> [UInt8] {
        let g = try GGUFFile(path: path)
        let meta = g.metadataKeys.map { (key: $0, value: g.metadata[$0]!) }
        let tensors = g.tensorNames.map { name -> GGUFTensorSource in
            let t = g.tensors[name]!
            return GGUFTensorSource(name: name, shape: t.shape, type: t.type) {
                [UInt8](UnsafeRawBufferPointer(start: t.data, count: t.byteCount))
            }
        }
        let out = dir.file(URL(fileURLWithPath: path).lastPathComponent)
        let w = try writeGGUF(path: out, metadata: meta, tensors: tensors, alignment: g.alignment)
        let bytes = try Fixture.bytes(out)
        #expect(w.bytes == bytes.count && w.sha256 == SHA256.hex(bytes))
        return bytes
    }

    /// Every metadata type (nested arrays of mixed element types included), alignment 64, F32/F16
    /// tensors; every quantisation type; and the real SmolLM2 file (converted by llama.cpp).
    @Test(arguments: ["metadata.gguf", "quant_types.gguf", "smollm2"])
    func rewritingGGUFPyFilesGivesTheSameBytes(_ name: String) throws {
        let path = name == "smollm2" ? Fixture.smolLM2 : Fixture.quant(name)
        let dir = try TempDir()
        defer { dir.remove() }
        let original = try Fixture.bytes(path)
        let rewritten = try Self.rewrite(path, into: dir)
        #expect(rewritten.count == original.count)
        do { let same = rewritten == original; #expect(same, "first difference at byte \(zip(rewritten, original).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)") }
    }

    static func blocks() throws -> [String: Any] { try Fixture.json(Fixture.tests.appendingPathComponent("Fixtures/gguf_export/quant_blocks.json").path) }

    /// Real weights, random values and the cases rounding decides (ties between +max and −max,
    /// exact halves, all-equal blocks, scales that underflow or overflow f16).
    @Test(arguments: [TensorType.q8_0, .q4_0, .f16, .bf16])
    func quantisersMatchGGUFPy(_ type: TensorType) throws {
        let b = try Self.blocks()
        let x = (b["input_f32_bits"] as! [Int]).map { Float(bitPattern: UInt32($0)) }
        let want = b[type.name] as! String
        var got = [UInt8](repeating: 0, count: type.rowBytes(x.count))
        x.withUnsafeBufferPointer { xs in got.withUnsafeMutableBytes { quantize(type, xs.baseAddress!, count: x.count, into: $0.baseAddress!) } }
        let hex = got.map { String(format: "%02x", $0) }.joined()
        do { let same = hex == want; #expect(same, "first difference at byte \((zip(hex, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -2) / 2)") }
        // And back: dequantize(quantize(x)) is what gguf-py's dequantize gives for these bytes (round trip bound).
        var back = [Float](repeating: 0, count: x.count)
        got.withUnsafeBytes { g in back.withUnsafeMutableBufferPointer { dequantize(type, g.baseAddress!, count: x.count, into: $0.baseAddress!) } }
        for blk in 0..<x.count / 32 where type == .q8_0 || type == .q4_0 {
            let s = x[blk * 32 ..< blk * 32 + 32]
            let amax = s.map(abs).max()!
            guard amax < 6e4, amax > 1e-20 else { continue }  // f16 scale overflow / underflow blocks
            // Q8_0: half a step; Q4_0: a whole step at the end opposite the block's extreme (16 clips to 15).
            let bound = type == .q8_0 ? amax / 127 * 0.5 : amax / 8
            for i in s.indices { #expect(abs(back[i] - x[i]) <= bound + amax * 2e-3, "block \(blk)") }
        }
    }

    @Test func refusesExistingPathUnlessForcedAndLeavesNoTempFile() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = try dir.write(Array("precious".utf8), "x.gguf")
        let meta: [(key: String, value: GGUFValue)] = [("general.architecture", .string("llama"))]
        // Every block holds 127, so Q8_0's scale is exactly 1 and integers survive exactly.
        let values = (0..<64).map { Float($0 % 32 == 0 ? 127 : $0) }
        let t = [GGUFTensorSource.floats("a", shape: [2, 32], type: .q8_0) { values }]
        let e = #expect(throws: ModelFileError.self) { try writeGGUF(path: path, metadata: meta, tensors: t) }
        #expect(e?.description.contains("already exists") == true && e?.description.contains(path) == true)
        #expect(try Fixture.bytes(path) == Array("precious".utf8))
        let w = try writeGGUF(path: path, metadata: meta, tensors: t, force: true)
        let g = try GGUFFile(path: path)
        #expect(w.sha256 == SHA256.hex(try Fixture.bytes(path)))
        #expect(try g.tensor("a").floats() == values && g.tensors["a"]?.shape == [2, 32])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["x.gguf"])
    }

    @Test func aFailingTensorLeavesNothingBehind() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        struct Boom: Error {}
        let t = [GGUFTensorSource.floats("a", shape: [32], type: .f32) { [Float](repeating: 1, count: 32) },
                 GGUFTensorSource(name: "b", shape: [32], type: .f32) { throw Boom() }]
        #expect(throws: Boom.self) { try writeGGUF(path: dir.file("y.gguf"), metadata: [], tensors: t) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        // A closure that returns the wrong byte count is caught too.
        let short = [GGUFTensorSource(name: "c", shape: [32], type: .q8_0) { [0, 1, 2] }]
        let e = #expect(throws: ModelFileError.self) { try writeGGUF(path: dir.file("y.gguf"), metadata: [], tensors: short) }
        #expect(e?.description.contains("'c' produced 3 bytes, expected 34") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func badInputIsRefusedWithItsName() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = dir.file("z.gguf")
        func message(_ meta: [(key: String, value: GGUFValue)], _ t: [GGUFTensorSource] = [], alignment: Int = 32) -> String {
            do { _ = try writeGGUF(path: p, metadata: meta, tensors: t, alignment: alignment); return "" } catch { return "\(error)" }
        }
        let f = { (n: String, s: [Int], type: TensorType) in GGUFTensorSource.floats(n, shape: s, type: type) { [Float](repeating: 0, count: s.reduce(1, *)) } }
        #expect(message([("k", .array([]))]).contains("'k' is an empty array"))
        #expect(message([("k", .array([.int32(1), .string("x")]))]).contains("'k'[1] is STRING but [0] is INT32"))
        #expect(message([("k", .bool(true)), ("k", .bool(false))]).contains("'k' appears twice"))
        #expect(message([("general.alignment", .uint32(64))]).contains("general.alignment is"))
        #expect(message([], alignment: 48).contains("power of two"))
        #expect(message([], [f("w", [3, 20], .q4_0)]).contains("'w' (Q4_0) row length 20 is not a multiple of the block size 32"))
        #expect(message([], [f("w", [1, 1, 1, 1, 1], .f32)]).contains("1 to 4 positive dimensions"))
        #expect(message([], [f("w", [32], .f32), f("w", [32], .f32)]).contains("'w' appears twice"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    /// A non-default alignment is recorded as general.alignment and every tensor starts on it.
    @Test func customAlignmentIsWrittenAndHonoured() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = dir.file("a.gguf")
        func value(_ j: Int) -> Float { j % 32 == 0 ? 127 : Float(j % 7) - 3 }  // Q8_0 scale exactly 1
        let t = (0..<3).map { i in GGUFTensorSource.floats("t\(i)", shape: [32 * (i + 1)], type: .q8_0) { (0..<(32 * (i + 1))).map(value) } }
        _ = try writeGGUF(path: p, metadata: [("general.architecture", .string("llama"))], tensors: t, alignment: 256)
        let g = try GGUFFile(path: p)
        #expect(g.alignment == 256 && g.metadataKeys == ["general.architecture", "general.alignment"])
        for name in g.tensorNames { #expect(g.fileOffset(of: g.tensors[name]!) % 256 == 0) }
        do { let same = try g.tensor("t2").floats() == (0..<96).map(value); #expect(same) }
    }
}
