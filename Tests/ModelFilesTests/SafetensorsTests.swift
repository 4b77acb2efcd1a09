import Foundation
import Testing
@testable import ModelFiles

/// Safetensors reading against files written by the safetensors library (values converted to
/// float32 by torch), and writing byte-compared with the library's own output.
@Suite struct SafetensorsTests {
    static let dir = Fixture.modelfiles("safetensors")

    func check(_ archive: SafetensorsArchive, against key: String) throws {
        let expected = try #require(try Fixture.json(Self.dir + "/expected.json")[key] as? [String: Any])
        #expect(archive.metadata == expected["metadata"] as? [String: String])
        let tensors = try #require(expected["tensors"] as? [String: [String: Any]])
        #expect(Set(archive.tensors.keys) == Set(tensors.keys))
        #expect(Set(archive.tensorNames) == Set(tensors.keys) && archive.tensorNames.count == tensors.count)
        for (name, want) in tensors {
            let t = try archive.tensor(name)
            #expect(t.type.name == want["dtype"] as? String, "\(name)")
            #expect(t.shape == (want["shape"] as? [Any])?.compactMap(jsonInt), "\(name)")
            let values = try #require(jsonFloats(want["values"]))
            #expect(t.count == values.count)
            #expect(firstMismatch(t.floats(), values) == nil, "\(name): \(firstMismatch(t.floats(), values) ?? "")")
        }
    }

    @Test func mixedDtypes() throws {
        let archive = try SafetensorsArchive(path: Self.dir + "/mixed.safetensors")
        try check(archive, against: "mixed.safetensors")
        #expect(try archive.tensor("scalar").shape == [])
        #expect(try archive.tensor("empty").count == 0)
    }

    @Test func folderWithModelSafetensors() throws {
        try check(SafetensorsArchive(path: Self.dir + "/single"), against: "single")
    }

    @Test func shardedFolderAndIndexPath() throws {
        try check(SafetensorsArchive(path: Self.dir + "/sharded"), against: "sharded")
        try check(SafetensorsArchive(path: Self.dir + "/sharded/model.safetensors.index.json"), against: "sharded")
    }

    @Test func unsupportedDtypeNamesTensorAndDtype() throws {
        let path = Self.dir + "/int64.safetensors"
        let error = try #require(throws: ModelFileError.self) { try SafetensorsArchive(path: path) }
        #expect(error.description.contains(path))
        #expect(error.description.contains("'ids'") && error.description.contains("I64"))
    }

    @Test func indexNamingAMissingTensor() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        for name in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
            try FileManager.default.copyItem(atPath: Self.dir + "/sharded/" + name, toPath: tmp.file(name))
        }
        let index = #"{"weight_map": {"ghost.weight": "model-00001-of-00002.safetensors", "lm_head.weight": "model-00002-of-00002.safetensors"}}"#
        _ = try tmp.write(Array(index.utf8), "model.safetensors.index.json")
        let error = try #require(throws: ModelFileError.self) { try SafetensorsArchive(path: tmp.path) }
        #expect(error.description.contains("ghost.weight") && error.description.contains("model.safetensors.index.json"))

        _ = try tmp.write(Array(#"{"weight_map": {"a": "missing.safetensors"}}"#.utf8), "model.safetensors.index.json")
        let missing = try #require(throws: ModelFileError.self) { try SafetensorsArchive(path: tmp.path) }
        #expect(missing.description.contains("missing.safetensors"))
    }

    @Test func emptyFolderIsAnError() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let error = try #require(throws: ModelFileError.self) { try SafetensorsArchive(path: tmp.path) }
        #expect(error.description.contains(tmp.path))
    }

    /// writeSafetensors on the tensors of a file the library wrote gives the same bytes.
    @Test func writerMatchesLibraryBytes() throws {
        let refPath = Self.dir + "/writer_reference.safetensors"
        let ref = try SafetensorsArchive(path: refPath)
        let tensors = ref.tensorNames.reversed().map { name -> (name: String, shape: [Int], data: [Float]) in
            let t = ref.tensors[name]!
            return (name, t.shape, t.floats())
        }
        #expect(tensors.count == 8)
        let tmp = try TempDir()
        defer { tmp.remove() }
        let out = tmp.file("out.safetensors")
        try writeSafetensors(path: out, tensors: tensors, metadata: ref.metadata)
        do { let same = try Fixture.bytes(out) == Fixture.bytes(refPath); #expect(same) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["out.safetensors"])
    }

    @Test func writerRoundTripAndOverwrite() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let out = tmp.file("adapter.safetensors")
        var values: [Float] = (0 ..< 30).map { Float($0) * 0.37 - 4 }
        values[3] = .infinity
        values[4] = -0.0
        values[5] = .leastNonzeroMagnitude
        let tensors: [(name: String, shape: [Int], data: [Float])] = [
            ("b \"quoted\"\n", [5, 6], values), ("a", [], [1.25]), ("z", [0, 7], []),
        ]
        try writeSafetensors(path: out, tensors: [("old", [1], [9])], metadata: ["x": "y"])
        try writeSafetensors(path: out, tensors: tensors, metadata: [:])   // replaces the old file
        let back = try SafetensorsArchive(path: out)
        #expect(back.metadata.isEmpty)
        #expect(back.tensorNames == ["a", "b \"quoted\"\n", "z"])
        do { let same = try back.tensor("b \"quoted\"\n").floats().map(\.bitPattern) == values.map(\.bitPattern); #expect(same) }
        #expect(try back.tensor("a").floats() == [1.25] && back.tensor("a").shape == [])
        #expect(try back.tensor("z").shape == [0, 7])
        let bytes = try Fixture.bytes(out)
        let headerLength = bytes[0 ..< 8].reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(headerLength % 8 == 0)
        #expect(!String(decoding: bytes[8 ..< 8 + headerLength], as: UTF8.self).contains("__metadata__"))
    }

    @Test func writerRejectsBadInput() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let out = tmp.file("x.safetensors")
        let e1 = try #require(throws: ModelFileError.self) { try writeSafetensors(path: out, tensors: [("a", [2, 2], [1, 2, 3])], metadata: [:]) }
        #expect(e1.description.contains(out) && e1.description.contains("'a'"))
        #expect(throws: ModelFileError.self) { try writeSafetensors(path: out, tensors: [("a", [1], [1]), ("a", [1], [2])], metadata: [:]) }
        #expect(throws: ModelFileError.self) { try writeSafetensors(path: out, tensors: [("__metadata__", [1], [1])], metadata: [:]) }
        #expect(throws: ModelFileError.self) { try writeSafetensors(path: tmp.path + "/no/such/dir/x.safetensors", tensors: [], metadata: [:]) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty)
    }
}
