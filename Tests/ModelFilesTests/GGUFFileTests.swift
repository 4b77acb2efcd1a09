import Testing
@testable import ModelFiles

/// GGUF parsing against what gguf-py's GGUFReader reports for files its GGUFWriter wrote.
@Suite struct GGUFFileTests {
    /// Tensor table (names in order, PyTorch-order shapes, types, sizes, data offsets) and
    /// metadata equal to the GGUFReader summary.
    func checkAgainstSummary(_ gguf: GGUFFile, _ summary: [String: Any]) throws {
        #expect(gguf.version == jsonInt(summary["version"]))
        #expect(gguf.alignment == jsonInt(summary["alignment"]))
        let tensors = try #require(summary["tensors"] as? [[String: Any]])
        #expect(gguf.tensorNames == tensors.compactMap { $0["name"] as? String })
        #expect(gguf.tensors.count == tensors.count)
        for entry in tensors {
            let name = try #require(entry["name"] as? String)
            let t = try gguf.tensor(name)
            #expect(t.name == name)
            #expect(t.shape == (entry["shape"] as? [Any])?.compactMap(jsonInt), "\(name)")
            #expect(t.type.name == entry["type"] as? String, "\(name)")
            #expect(t.byteCount == jsonInt(entry["n_bytes"]), "\(name)")
            #expect(gguf.fileOffset(of: t) == jsonInt(entry["data_offset"]), "\(name)")
            if let values = jsonFloats(entry["values"]) {
                #expect(firstMismatch(t.floats(), values) == nil, "\(name)")
            }
        }
        let metadata = try #require(summary["metadata"] as? [String: Any])
        for (key, json) in metadata where (json as? [String: Any])?["len"] == nil {
            let want = try #require(ggufValue(json), "bad reference for \(key)")
            #expect(gguf.metadata[key] == want, "\(key)")
        }
    }

    @Test func quantTypesFile() throws {
        let gguf = try GGUFFile(path: Fixture.quant("quant_types.gguf"))
        try checkAgainstSummary(gguf, Fixture.json(Fixture.quant("quant_types_summary.json")))
        #expect(gguf.metadata.count == 2)
    }

    /// Every metadata value type, nested arrays with per-level element types, alignment 64.
    @Test func metadataOfEveryType() throws {
        let expected = try Fixture.json(Fixture.quant("metadata_expected.json"))
        let gguf = try GGUFFile(path: Fixture.quant("metadata.gguf"))
        try checkAgainstSummary(gguf, expected)
        let want = try #require(expected["metadata"] as? [String: Any])
        #expect(Set(gguf.metadata.keys) == Set(want.keys))
        #expect(gguf.metadataKeys.count == want.count)
        #expect(gguf.alignment == 64)
        for t in gguf.tensors.values { #expect(gguf.fileOffset(of: t) % 64 == 0) }

        // Accessors.
        let m = gguf.metadata
        #expect(m["t.uint8"]?.int == 255)
        #expect(m["t.int64"]?.int == Int(Int64.min))
        #expect(m["t.uint64"]?.int == nil)           // does not fit in Int
        #expect(m["t.uint64"]?.double == 18446744073709551615.0)
        #expect(m["t.float32"]?.double == Double(Float(3.14159)))
        #expect(m["t.float64"]?.double == 2.718281828459045)
        #expect(m["t.bool_true"]?.bool == true && m["t.bool_false"]?.bool == false)
        #expect(m["t.string"]?.string == "héllo wörld ✓ 🙂")
        #expect(m["t.string_empty"]?.string == "")
        #expect(m["t.int8"]?.string == nil && m["t.string"]?.int == nil)
        #expect(m["a.string"]?.stringArray == ["a", "", "ünï", "Ġ t"])
        #expect(m["a.int32"]?.intArray == [-5, 0, 2147483647])
        #expect(m["a.uint64"]?.intArray == nil)      // 2^64-1 does not fit
        #expect(m["a.float32"]?.floatArray == [0.5, -2.25, 1e-3])
        #expect(m["a.bool"]?.array?.compactMap(\.bool) == [true, false, true])
        #expect(m["n.int"]?.array?.map { $0.intArray ?? [] } == [[1, 2], [3]])
        #expect(m["n.mixed"]?.array?[1].stringArray == ["s"])
        #expect(m["n.deep"]?.array?[0].array?[1].intArray == [2, 3])
        #expect(m["a.string"]?.intArray == nil && m["t.string"]?.stringArray == nil)
    }

    @Test func version2File() throws {
        let gguf = try GGUFFile(path: Fixture.quant("v2.gguf"))
        #expect(gguf.version == 2)
        try checkAgainstSummary(gguf, Fixture.json(Fixture.quant("v2_summary.json")))
        #expect(gguf.metadata["tokenizer.ggml.tokens"]?.stringArray == ["<a>", "b", "c"])
    }

    @Test func bigEndianFileIsRejected() throws {
        let path = Fixture.quant("big_endian.gguf")
        let error = try #require(throws: ModelFileError.self) { try GGUFFile(path: path) }
        #expect(error.description.contains(path))
        #expect(error.description.contains("big-endian"))
    }

    @Test func missingTensorErrorNamesFileAndTensor() throws {
        let path = Fixture.quant("v2.gguf")
        let gguf = try GGUFFile(path: path)
        let error = try #require(throws: ModelFileError.self) { try gguf.tensor("nope.weight") }
        #expect(error.description.contains(path) && error.description.contains("nope.weight"))
    }

    @Test func missingFile() throws {
        let error = try #require(throws: ModelFileError.self) { try GGUFFile(path: "/nonexistent/x.gguf") }
        #expect(error.description.contains("/nonexistent/x.gguf"))
    }
}
