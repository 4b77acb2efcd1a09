import Foundation
import Testing
@testable import ModelFiles

/// Files made to hurt the reader: sizes declared far beyond the file or any model, metadata that
/// would take gigabytes in memory, tensors that share or leave the file, index entries leaving
/// the model folder. Each must be a `ModelFileError` naming the file and what was wrong, found
/// before anything large is allocated. (The README's hostile-input table quotes these errors.)
@Suite struct HostileInputTests {
    // MARK: GGUF builders

    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func str(_ s: String) -> [UInt8] { u64(UInt64(s.utf8.count)) + Array(s.utf8) }

    /// A GGUF v3 file: `kv` are whole key/value records, `tensors` (name, dims in ggml order, ggml
    /// type, offset), then `data` bytes after the aligned header.
    static func gguf(kv: [[UInt8]], tensors: [(String, [UInt64], UInt32, UInt64)] = [], data: Int = 0) -> [UInt8] {
        var b = Array("GGUF".utf8) + u32(3) + u64(UInt64(tensors.count)) + u64(UInt64(kv.count))
        for r in kv { b += r }
        for (name, dims, type, offset) in tensors {
            b += str(name) + u32(UInt32(dims.count))
            for d in dims { b += u64(d) }
            b += u32(type) + u64(offset)
        }
        b += [UInt8](repeating: 0, count: (32 - b.count % 32) % 32)
        return b + [UInt8](repeating: 0, count: data)
    }

    /// A key holding an array of `count` u8 values, of which only `present` bytes are in the file.
    static func u8Array(_ key: String, count: UInt64, present: Int) -> [UInt8] {
        str(key) + u32(9) + u32(0) + u64(count) + [UInt8](repeating: 7, count: present)
    }

    func ggufError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let path = try tmp.write(bytes, "hostile.gguf")
        let e = try #require(throws: ModelFileError.self, sourceLocation: sourceLocation) { try GGUFFile(path: path) }
        #expect(e.description.hasPrefix(path), sourceLocation: sourceLocation)
        return e.description
    }

    // MARK: GGUF

    @Test func hugeDeclaredArray() throws {
        // 2^40 u8 values declared in a 70-byte file: refused from the count, before any allocation.
        let e1 = try ggufError(Self.gguf(kv: [Self.u8Array("k", count: 1 << 40, present: 16)]))
        #expect(e1.contains("array length of 'k' is 1099511627776, more than the 47 bytes left in the file can hold"), "\(e1)")
        // One byte per value fits this 5 MB file, but one u8 is a 24-byte value in memory: capped.
        let e2 = try ggufError(Self.gguf(kv: [Self.u8Array("k", count: 5_000_000, present: 5_000_000)]))
        #expect(e2.contains("metadata 'k' declares an array of 5000000 items (at most 4194304)"), "\(e2)")
        // Arrays under the cap that together would take more than the metadata budget (3 × 4M × 24 B).
        let n = UInt64(GGUFFile.maxArrayLength)
        let e3 = try ggufError(Self.gguf(kv: (0..<3).map { Self.u8Array("k\($0)", count: n, present: Int(n)) }))
        #expect(e3.contains("metadata would take more than 256 MB in memory (at key 'k2')"), "\(e3)")
    }

    @Test func hugeString() throws {
        let e1 = try ggufError(Self.gguf(kv: [Self.str("k") + Self.u32(8) + Self.u64(1 << 40) + Array("abc".utf8)]))
        #expect(e1.contains("length of value of 'k' is 1099511627776, more than the 19 bytes left in the file can hold"), "\(e1)")
        let big = GGUFFile.maxStringBytes + 1
        let e2 = try ggufError(Self.gguf(kv: [Self.str("k") + Self.u32(8) + Self.u64(UInt64(big)) + [UInt8](repeating: 0x61, count: big)]))
        #expect(e2.contains("value of 'k' is 16777217 bytes long (at most 16777216)"), "\(e2)")
        let e3 = try ggufError(Self.gguf(kv: [Self.str("tokenizer.chat_template") + Self.u32(8) + Self.u64(3) + [0x61, 0xFF, 0x62]]))
        #expect(e3.contains("value of 'tokenizer.chat_template' is not valid UTF-8"), "\(e3)")
    }

    @Test func deepNesting() throws {
        var v = Self.str("k") + Self.u32(9)
        for _ in 0 ..< 40 { v += Self.u32(9) + Self.u64(1) }
        v += Self.u32(4) + Self.u64(1) + Self.u32(7)
        let e = try ggufError(Self.gguf(kv: [v]))
        #expect(e.contains("metadata 'k' nests arrays deeper than 16 levels"), "\(e)")
    }

    @Test func overlappingTensorsGGUF() throws {
        // 'a' is 16 floats at 0..<64, 'b' 8 floats at 32..<64: the same bytes twice.
        let e = try ggufError(Self.gguf(kv: [], tensors: [("a", [16], 0, 0), ("b", [8], 0, 32)], data: 64))
        #expect(e.contains("tensors 'a' (data bytes 0..<64) and 'b' (32..<64) overlap"), "\(e)")
        // Side by side is fine (negative control).
        let tmp = try TempDir()
        defer { tmp.remove() }
        let ok = try tmp.write(Self.gguf(kv: [], tensors: [("a", [8], 0, 0), ("b", [8], 0, 32)], data: 64), "ok.gguf")
        #expect(try GGUFFile(path: ok).tensors.count == 2)
    }

    @Test func tensorPastEndOfFileGGUF() throws {
        let e = try ggufError(Self.gguf(kv: [], tensors: [("a", [16], 0, 0)], data: 63))
        #expect(e.contains("tensor 'a' (F32 [16]) needs bytes 64..<128 but the file has only 127 bytes (truncated?)"), "\(e)")
    }

    @Test func negativeAndOverflowingDimensionsGGUF() throws {
        let e1 = try ggufError(Self.gguf(kv: [], tensors: [("a", [UInt64.max], 0, 0)]))   // -1 as a u64
        #expect(e1.contains("tensor 'a' dimension 0 is 18446744073709551615, too large"), "\(e1)")
        let e2 = try ggufError(Self.gguf(kv: [], tensors: [("a", [1 << 62, 4], 0, 0)]))
        #expect(e2.contains("tensor 'a' element count overflows"), "\(e2)")
        let e3 = try ggufError(Self.gguf(kv: [], tensors: [("a", [1 << 40, 1 << 20], 0, 0)]))   // fits Int, not the file
        #expect(e3.contains("tensor 'a'") && e3.contains("truncated?"), "\(e3)")
    }

    // MARK: safetensors

    static func safetensors(_ header: String, data: Int) -> [UInt8] {
        var h = Array(header.utf8)
        h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8)
        return u64(UInt64(h.count)) + h + [UInt8](repeating: 0, count: data)
    }

    func safetensorsError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let path = try tmp.write(bytes, "hostile.safetensors")
        let e = try #require(throws: ModelFileError.self, sourceLocation: sourceLocation) { try SafetensorsArchive(path: path) }
        #expect(e.description.hasPrefix(path), sourceLocation: sourceLocation)
        return e.description
    }

    @Test func overlappingTensorsSafetensors() throws {
        let e = try safetensorsError(Self.safetensors(
            #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, data: 16))
        #expect(e.contains("tensors 'a' (data bytes 0..<16) and 'b' (8..<16) overlap"), "\(e)")
    }

    @Test func tensorPastEndOfFileSafetensors() throws {
        let e = try safetensorsError(Self.safetensors(#"{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,20]}}"#, data: 16))
        #expect(e.contains("tensor 'a' needs data bytes 0..<20 but the file holds only 16 after the header (truncated?)"), "\(e)")
        let huge = try safetensorsError(Self.u64(1 << 62) + Array("{}".utf8))
        #expect(huge.contains("header length 4611686018427387904 is larger than the 100 MB the format allows"), "\(huge)")
    }

    @Test func negativeAndOverflowingDimensionsSafetensors() throws {
        let e1 = try safetensorsError(Self.safetensors(#"{"a":{"dtype":"F16","shape":[-1],"data_offsets":[0,2]}}"#, data: 2))
        #expect(e1.contains("tensor 'a': bad shape [-1] (dimensions must be integers ≥ 0)"), "\(e1)")
        let e2 = try safetensorsError(Self.safetensors(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#, data: 16))
        #expect(e2.contains("tensor 'a': shape [4611686018427387904, 4] is too large"), "\(e2)")
        let e3 = try safetensorsError(Self.safetensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#, data: 16))
        #expect(e3.contains("tensor 'a': data_offsets must be [begin, end] with 0 <= begin <= end"), "\(e3)")
    }

    @Test func deepNestingJSON() throws {
        // Foundation's parser stops at 512 levels: an error, not a stack overflow.
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let e = try safetensorsError(Self.safetensors(#"{"__metadata__":"# + deep + "}", data: 0))
        // It says why: JSONDecoder alone said only "The given data was not valid JSON."
        #expect(e.contains("header is not valid JSON: arrays and objects nest deeper than 512 levels (at byte 527)"), "\(e)")
        // Just under the limit parses (recursively decoded on a test thread: its stack holds).
        let tmp = try TempDir()
        defer { tmp.remove() }
        let nested = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        let tooDeep = try tmp.write(Array(#"{"model_type":"llama","x":\#(deep)}"#.utf8), "deep-config.json")
        let d = try #require(throws: ModelFileError.self) { try ModelConfig.fromHF(configPath: tooDeep) }
        #expect(d.description.hasPrefix(tooDeep + ": config is not valid JSON: arrays and objects nest deeper than 512 levels (at byte 537)"), "\(d)")
        let cfg = try tmp.write(Array(#"{"model_type":"llama","x":\#(nested)}"#.utf8), "config.json")
        let c = try #require(throws: ModelFileError.self) { try ModelConfig.fromHF(configPath: cfg) }
        #expect(!c.description.contains("not valid JSON"), "\(c)")   // it gets to the missing sizes
    }

    // MARK: index

    @Test func indexShardOutsideTheFolder() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let shards = Fixture.modelfiles("safetensors/sharded")
        let model = tmp.file("model")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for s in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
            try FileManager.default.copyItem(atPath: shards + "/" + s, toPath: model + "/" + s)
        }
        // A valid shard one folder up: `../` must not reach it.
        _ = try tmp.write(Self.safetensors(#"{"outside":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: 4), "outside.safetensors")
        for shard in ["../outside.safetensors", tmp.file("outside.safetensors"), "sub/../../outside.safetensors", ".."] {
            let index = #"{"weight_map":{"outside":"\#(shard)","lm_head.weight":"model-00002-of-00002.safetensors"}}"#
            _ = try tmp.write(Array(index.utf8), "model/model.safetensors.index.json")
            let e = try #require(throws: ModelFileError.self) { try SafetensorsArchive(path: model) }
            #expect(e.description.contains("weight_map entry 'outside' names the shard \(shard.debugDescription), which is not a file name in the model folder"), "\(e)")
        }
        // The fixture's own index (plain names) still loads: negative control.
        try FileManager.default.copyItem(atPath: shards + "/model.safetensors.index.json", toPath: model + "/index.json")
        try FileManager.default.removeItem(atPath: model + "/model.safetensors.index.json")
        try FileManager.default.moveItem(atPath: model + "/index.json", toPath: model + "/model.safetensors.index.json")
        #expect(try SafetensorsArchive(path: model).tensors.count == 4)
    }

    // MARK: PEFT config

    @Test func invalidPEFTConfig() throws {
        let modules = ["q_proj", "v_proj"]
        func error(_ bytes: [UInt8]) -> String {
            do { _ = try PEFTAdapterConfig.parse(Data(bytes), path: "adapter_config.json", knownModules: modules); return "" } catch { return "\(error)" }
        }
        #expect(error(Array(#"{"r":8,"target_modules":["q_proj"],"x":"\#u{FFFD}"}"#.utf8).map { $0 == 0xEF ? 0xFF : $0 }).contains("adapter_config.json: invalid JSON"))
        #expect(error(Array(#"{"r":1e300,"target_modules":["q_proj"]}"#.utf8)).contains("\"r\" must be a positive integer"))
        #expect(error(Array(#"{"r":-4,"target_modules":["q_proj"]}"#.utf8)).contains("\"r\" must be a positive integer, got -4"))
        #expect(error(Array(#"{"r":4,"target_modules":["../q_proj"]}"#.utf8)).contains("which is not a decoder projection"))
        let ok = try PEFTAdapterConfig.parse(Data(#"{"r":4,"lora_alpha":8,"target_modules":["model.layers.0.self_attn.q_proj","q_proj","v_proj"]}"#.utf8),
                                             path: "x", knownModules: modules)
        #expect(ok == PEFTAdapterConfig(rank: 4, alpha: 8, dropout: 0, useRSLoRA: false, targetModules: ["q_proj", "v_proj"]))
    }
}
