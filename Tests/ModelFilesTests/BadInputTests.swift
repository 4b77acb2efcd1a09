import Foundation
import Testing
@testable import ModelFiles

/// Damaged files: every failure must be a thrown ModelFileError naming the file, never a crash.
@Suite struct BadInputTests {
    /// Opening succeeds or throws a ModelFileError naming `path`; on success every tensor is read
    /// end to end (the extents were checked, so this must stay inside the mapping).
    func openGGUF(_ path: String) -> Result<GGUFFile, ModelFileError>? {
        do {
            let f = try GGUFFile(path: path)
            for t in f.tensors.values { _ = t.floats() }
            return .success(f)
        } catch let e as ModelFileError {
            return .failure(e)
        } catch {
            Issue.record("unexpected error type \(type(of: error)): \(error)")
            return nil
        }
    }

    func openSafetensors(_ path: String) -> Result<SafetensorsArchive, ModelFileError>? {
        do {
            let a = try SafetensorsArchive(path: path)
            for t in a.tensors.values { _ = t.floats() }
            return .success(a)
        } catch let e as ModelFileError {
            return .failure(e)
        } catch {
            Issue.record("unexpected error type \(type(of: error)): \(error)")
            return nil
        }
    }

    /// End of the last tensor's data, from the GGUFReader summary.
    func dataEnd(_ summary: [String: Any]) throws -> Int {
        let tensors = try #require(summary["tensors"] as? [[String: Any]])
        return tensors.compactMap { t in jsonInt(t["data_offset"]).flatMap { o in jsonInt(t["n_bytes"]).map { o + $0 } } }.max() ?? 0
    }

    @Test(arguments: [("metadata.gguf", "metadata_expected.json", 1), ("quant_types.gguf", "quant_types_summary.json", 7), ("v2.gguf", "v2_summary.json", 1)])
    func truncatedGGUF(file: String, summary: String, stride: Int) throws {
        let bytes = try Fixture.bytes(Fixture.quant(file))
        let end = try dataEnd(Fixture.json(Fixture.quant(summary)))
        let headerEnd = try #require(jsonInt(Fixture.json(Fixture.quant(summary))["data_offset"]))
        let tmp = try TempDir()
        defer { tmp.remove() }
        var cuts = Array(0 ..< min(headerEnd + 64, bytes.count))
        cuts += Array(Swift.stride(from: headerEnd + 64, to: bytes.count, by: stride))
        for cut in cuts {
            let path = try tmp.write(Array(bytes[0 ..< cut]), "cut.gguf")
            switch openGGUF(path) {
            case .failure(let e)?:
                #expect(e.description.contains(path))
                if cut >= headerEnd { #expect(e.description.contains("truncated"), "cut \(cut): \(e)") }
            case .success?:
                #expect(cut >= end, "file cut at \(cut) of \(bytes.count) (data ends at \(end)) parsed")
            case nil: break
            }
        }
        // A cut inside the data names the tensor and the sizes.
        let path = try tmp.write(Array(bytes[0 ..< end - 1]), "cut.gguf")
        let e = try #require(throws: ModelFileError.self) { try GGUFFile(path: path) }
        #expect(e.description.contains("'") && e.description.contains("\(end - 1) bytes"))
    }

    func patched(_ bytes: [UInt8], at offset: Int, _ value: UInt64, width: Int) -> [UInt8] {
        var b = bytes
        for i in 0 ..< width { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        return b
    }

    func expectGGUFError(_ bytes: [UInt8], _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let path = try tmp.write(bytes, "bad.gguf")
        let e = try #require(throws: ModelFileError.self, sourceLocation: sourceLocation) { try GGUFFile(path: path) }
        #expect(e.description.contains(path), sourceLocation: sourceLocation)
        for f in fragments { #expect(e.description.contains(f), "\(e) lacks \(f)", sourceLocation: sourceLocation) }
    }

    @Test func headerFields() throws {
        let v2 = try Fixture.bytes(Fixture.quant("v2.gguf"))
        try expectGGUFError(Array("GGUX".utf8) + v2[4...], ["not a GGUF file"])
        try expectGGUFError([], ["magic"])
        try expectGGUFError(patched(v2, at: 4, 1, width: 4), ["unsupported GGUF version 1"])
        try expectGGUFError(patched(v2, at: 4, 4, width: 4), ["unsupported GGUF version 4"])
        try expectGGUFError(patched(v2, at: 8, .max, width: 8), ["tensor count"])             // n_tensors
        try expectGGUFError(patched(v2, at: 16, 1 << 40, width: 8), ["metadata count"])       // n_kv
        try expectGGUFError(patched(v2, at: 24, .max, width: 8), ["length of metadata key"])  // first key length
        let safetensors = try Fixture.bytes(Fixture.modelfiles("safetensors/mixed.safetensors"))
        try expectGGUFError(safetensors, ["not a GGUF file"])
    }

    /// Offset of a tensor-info record in v2.gguf: u64 name length, name, n_dims, dims, type, offset.
    func tensorRecord(_ bytes: [UInt8], _ name: String) throws -> Int {
        let needle = patched([UInt8](repeating: 0, count: 8), at: 0, UInt64(name.utf8.count), width: 8) + Array(name.utf8) + [2, 0, 0, 0]
        let hit = (0 ... bytes.count - needle.count).first { Array(bytes[$0 ..< $0 + needle.count]) == needle }
        return try #require(hit, "no record for \(name)")
    }

    @Test func corruptTensorTable() throws {
        let b = try Fixture.bytes(Fixture.quant("v2.gguf"))   // tensor "x": F32 [2, 3]; "y": Q8_0 [1, 64]
        let x = try tensorRecord(b, "x") + 9                   // → n_dims
        let nDims = x, dim0 = x + 4, type = x + 20, offset = x + 24
        try expectGGUFError(patched(b, at: type, 99, width: 4), ["'x'", "99"])
        try expectGGUFError(patched(b, at: nDims, 5, width: 4), ["'x'", "5 dimensions"])
        try expectGGUFError(patched(b, at: dim0, 1 << 40, width: 8), ["'x'", "truncated"])
        try expectGGUFError(patched(b, at: dim0, 1 << 62, width: 8), ["'x'"])
        try expectGGUFError(patched(b, at: offset, 1 << 40, width: 8), ["'x'", "truncated"])
        try expectGGUFError(patched(b, at: offset, .max, width: 8), ["'x'", "offset"])
        try expectGGUFError(patched(b, at: offset, 4, width: 8), ["'x'", "alignment"])
        try expectGGUFError(patched(b, at: type, 8, width: 4), ["'x'", "block size"])   // Q8_0 with rows of 3
        let y = try tensorRecord(b, "y")
        try expectGGUFError(patched(b, at: y + 8, UInt64(Character("x").asciiValue!), width: 1), ["duplicate tensor name 'x'"])
    }

    @Test func hostileMetadata() throws {
        // magic, version 3, 0 tensors, 1 key "k" holding arrays nested 40 deep.
        var b: [UInt8] = Array("GGUF".utf8) + [3, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0]
        b += [1, 0, 0, 0, 0, 0, 0, 0] + Array("k".utf8) + [9, 0, 0, 0]
        for _ in 0 ..< 40 { b += [9, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0] }
        b += [4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0]
        try expectGGUFError(b, ["'k'", "nests arrays"])
        // Array of 2^40 uint32s, unknown value type, bad alignment.
        var big = Array(b[0 ..< 37])
        big += [4, 0, 0, 0] + [0, 0, 0, 0, 0, 1, 0, 0]
        try expectGGUFError(big, ["array length of 'k'"])
        var unknown = Array(b[0 ..< 33])
        unknown += [42, 0, 0, 0, 1]
        try expectGGUFError(unknown, ["'k'", "unknown value type 42"])
        var align = Array(b[0 ..< 24]) + [17, 0, 0, 0, 0, 0, 0, 0] + Array("general.alignment".utf8)
        align += [4, 0, 0, 0, 24, 0, 0, 0]
        try expectGGUFError(align, ["alignment"])
    }

    /// Seeded random damage to the header of valid files: error or clean parse, never a crash.
    @Test(arguments: ["metadata.gguf", "v2.gguf", "quant_types.gguf"])
    func fuzzGGUFHeader(file: String) throws {
        let bytes = try Fixture.bytes(Fixture.quant(file))
        let headerEnd = try GGUFFile(path: Fixture.quant(file)).dataOffset
        try fuzz(bytes, region: headerEnd, name: "fuzz.gguf", seed: 0x5EED_0000 &+ UInt64(bytes.count)) { path in
            switch openGGUF(path) {
            case .failure(let e)?: return e
            default: return nil
            }
        }
    }

    @Test(arguments: ["mixed.safetensors", "writer_reference.safetensors", "sharded/model-00001-of-00002.safetensors"])
    func fuzzSafetensorsHeader(file: String) throws {
        let bytes = try Fixture.bytes(Fixture.modelfiles("safetensors/" + file))
        let headerEnd = 8 + bytes[0 ..< 8].reversed().reduce(0) { $0 << 8 | Int($1) }
        try fuzz(bytes, region: headerEnd, name: "fuzz.safetensors", seed: 0xF00D_0000 &+ UInt64(bytes.count)) { path in
            switch openSafetensors(path) {
            case .failure(let e)?: return e
            default: return nil
            }
        }
    }

    func fuzz(_ bytes: [UInt8], region: Int, name: String, seed: UInt64, open: (String) -> ModelFileError?) throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        var rng = SplitMix64(seed: seed)
        var failures = 0
        let rounds = 400
        for _ in 0 ..< rounds {
            var b = bytes
            for _ in 0 ..< 1 + Int(rng.next() % 4) {
                let at = Int(rng.next() % UInt64(min(region, b.count)))
                switch rng.next() % 4 {
                case 0: b[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: b[at] ^= 1 << UInt8(rng.next() % 8)
                case 2:   // a large or small little-endian integer over the next 8 bytes
                    let v: UInt64 = [0, 1, 0xFF, 1 << 31, 1 << 32, 1 << 40, .max, .max >> 1][Int(rng.next() % 8)]
                    for i in 0 ..< 8 where at + i < b.count { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
                default: b = Array(b[0 ..< max(at, 1)])   // truncate
                }
                if b.count <= 1 { break }
            }
            let path = try tmp.write(b, name)
            if let e = open(path) {
                failures += 1
                #expect(e.description.contains(path))
            }
        }
        #expect(failures > rounds / 4)   // the damage is real: most mutations must be caught
    }

    @Test func safetensorsHeaderChecks() throws {
        let good = try Fixture.bytes(Fixture.modelfiles("safetensors/mixed.safetensors"))
        let n = good[0 ..< 8].reversed().reduce(0) { $0 << 8 | Int($1) }
        let tmp = try TempDir()
        defer { tmp.remove() }
        func expectError(_ bytes: [UInt8], _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
            let path = try tmp.write(bytes, "bad.safetensors")
            let e = try #require(throws: ModelFileError.self, sourceLocation: sourceLocation) { try SafetensorsArchive(path: path) }
            #expect(e.description.contains(path), sourceLocation: sourceLocation)
            for f in fragments { #expect(e.description.contains(f), "\(e) lacks \(f)", sourceLocation: sourceLocation) }
        }
        func withHeader(_ json: String) -> [UInt8] {
            var h = Array(json.utf8)
            h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8)
            return patched([UInt8](repeating: 0, count: 8), at: 0, UInt64(h.count), width: 8) + h + [UInt8](repeating: 0, count: 16)
        }
        try expectError([1, 2, 3], ["header length"])
        try expectError(patched(good, at: 0, 1 << 62, width: 8), ["100 MB"])
        try expectError(patched(good, at: 0, UInt64(good.count), width: 8), ["header length"])
        try expectError(patched(good, at: 0, UInt64(n - 8), width: 8), ["not valid JSON"])
        try expectError(withHeader("[1,2]"), ["not a JSON object"])
        try expectError(withHeader(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#), ["'a'", "data_offsets"])
        try expectError(withHeader(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#), ["'a'", "data_offsets"])
        try expectError(withHeader(#"{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,20]}}"#), ["'a'", "truncated"])
        try expectError(withHeader(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#), ["'a'", "12 bytes"])
        try expectError(withHeader(#"{"a":{"dtype":"F16","shape":[-1],"data_offsets":[0,2]}}"#), ["'a'", "shape"])
        try expectError(withHeader(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#), ["'a'"])
        try expectError(withHeader(#"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#), ["'a'", "F8_E4M3"])
        try expectError(withHeader(#"{"__metadata__":{"k":1}}"#), ["__metadata__"])
        try expectError(withHeader(#"{"a":[]}"#), ["'a'"])
        // Truncation anywhere before the end of the data.
        for cut in 0 ..< good.count {
            let path = try tmp.write(Array(good[0 ..< cut]), "cut.safetensors")
            let e = try #require(throws: ModelFileError.self) { try SafetensorsArchive(path: path) }
            #expect(e.description.contains(path))
        }
    }
}

/// Deterministic generator for the fuzz tests (SplitMix64).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
