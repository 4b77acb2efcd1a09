import Foundation
import Testing
@testable import ModelFiles

/// Fixture locations. Works from the main package and from a private package whose Tests folder
/// symlinks ModelFilesTests, Fixtures (and ../models).
enum Fixture {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static func quant(_ name: String) -> String { tests.appendingPathComponent("Fixtures/quant/\(name)").path }
    static func modelfiles(_ name: String) -> String { tests.appendingPathComponent("Fixtures/modelfiles/\(name)").path }
    static let smolLM2 = tests.deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(path) is not a JSON object")
    }

    static func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
}

/// Scratch folder for files a test writes; removed by the caller with `remove()`.
struct TempDir {
    let path: String
    init() throws {
        // tmpfs when there is one: the damage tests write thousands of small files.
        let shm = "/dev/shm"
        let base = FileManager.default.isWritableFile(atPath: shm) ? URL(fileURLWithPath: shm) : FileManager.default.temporaryDirectory
        path = base.appendingPathComponent("modelfiles-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    /// Plain write without fsync (Data.write syncs, which makes thousands of small writes slow).
    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = file(name)
        guard let f = fopen(p, "wb") else { throw CocoaError(.fileWriteUnknown) }
        defer { fclose(f) }
        guard bytes.isEmpty || fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw CocoaError(.fileWriteUnknown) }
        return p
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// JSON number → integer (JSONSerialization gives NSNumber / Int).
func jsonInt(_ v: Any?) -> Int? {
    if let i = v as? Int { return i }
    if let n = v as? NSNumber { return n.intValue }
    return nil
}

/// Float bit patterns stored by the reference scripts.
func jsonFloats(_ v: Any?) -> [Float]? {
    guard let items = v as? [Any] else { return nil }
    var out: [Float] = []
    for item in items {
        guard let bits = jsonInt(item), let u = UInt32(exactly: bits) else { return nil }
        out.append(Float(bitPattern: u))
    }
    return out
}

/// The typed encoding of make_quant_references.py ({"t": type, "v": value}) as a GGUFValue.
func ggufValue(_ json: Any?) -> GGUFValue? {
    guard let d = json as? [String: Any], let t = d["t"] as? String else { return nil }
    let v = d["v"]
    let s = v as? String
    switch t {
    case "UINT8": return s.flatMap { UInt8($0) }.map(GGUFValue.uint8)
    case "INT8": return s.flatMap { Int8($0) }.map(GGUFValue.int8)
    case "UINT16": return s.flatMap { UInt16($0) }.map(GGUFValue.uint16)
    case "INT16": return s.flatMap { Int16($0) }.map(GGUFValue.int16)
    case "UINT32": return s.flatMap { UInt32($0) }.map(GGUFValue.uint32)
    case "INT32": return s.flatMap { Int32($0) }.map(GGUFValue.int32)
    case "UINT64": return s.flatMap { UInt64($0) }.map(GGUFValue.uint64)
    case "INT64": return s.flatMap { Int64($0) }.map(GGUFValue.int64)
    case "FLOAT32": return jsonInt(v).flatMap { UInt32(exactly: $0) }.map { .float32(Float(bitPattern: $0)) }
    case "FLOAT64": return s.flatMap { UInt64($0) }.map { .float64(Double(bitPattern: $0)) }
    case "BOOL": return (v as? Bool).map(GGUFValue.bool)
    case "STRING": return s.map(GGUFValue.string)
    case "ARRAY":
        guard let items = v as? [Any] else { return nil }
        var out: [GGUFValue] = []
        for item in items {
            guard let value = ggufValue(item) else { return nil }
            out.append(value)
        }
        return .array(out)
    default: return nil
    }
}

/// Bitwise equality, except that any NaN equals any NaN (payload handling differs between
/// numpy's and the CPU's half→float conversion).
func sameFloat(_ a: Float, _ b: Float) -> Bool {
    a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)
}

func firstMismatch(_ got: [Float], _ want: [Float]) -> String? {
    guard got.count == want.count else { return "count \(got.count) != \(want.count)" }
    for i in got.indices where !sameFloat(got[i], want[i]) {
        return "element \(i): \(got[i]) (0x\(String(got[i].bitPattern, radix: 16))) != \(want[i]) (0x\(String(want[i].bitPattern, radix: 16)))"
    }
    return nil
}
