import Foundation

/// Paths of the committed reference files and of the default model.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let repo = root.deletingLastPathComponent().deletingLastPathComponent()
    static let smolLM2 = repo.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    static func json(_ rel: String) throws -> Any {
        let data = try Data(contentsOf: root.appendingPathComponent(rel))
        return try JSONSerialization.jsonObject(with: data)
    }

    static func floats(_ rel: String) throws -> [Float] {
        let data = try Data(contentsOf: root.appendingPathComponent(rel))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}
