import Foundation
import ModelFiles
import Tokenization
@testable import Dataset

enum Paths {
    /// Repository root, through symlinks (the dev package links Tests/DatasetTests).
    static let root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func repo(_ p: String) -> String { root.appendingPathComponent(p).path }
    static func shared(_ name: String) -> String { root.deletingLastPathComponent().appendingPathComponent("shared/data/\(name)").path }
    static let template = repo("notebooks/templates/medical-cot.txt")
    static let sample = repo("notebooks/data/medical-cot-sample.jsonl")
    static let o1 = shared("medical_o1_en_160.json")
    static let r1zh = shared("medical_r1_zh_200.jsonl")
    static let sharegpt = shared("medical_sft_zh_1k.sharegpt.jsonl")
}

enum SmolLM2 {
    static let tokenizer: Tokenizer = {
        // Tests need the model file (CI downloads it before `swift test`).
        try! Tokenizer.load(gguf: GGUFFile(path: Paths.repo("models/SmolLM2-135M-Instruct.Q4_1.gguf")))
    }()
}

/// A temporary file with `text`, removed by the caller's defer.
func tempFile(_ text: String, ext: String = "jsonl") -> String {
    let p = FileManager.default.temporaryDirectory.appendingPathComponent("dataset-test-\(UUID().uuidString).\(ext)").path
    _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
    return p
}

/// The message of the DatasetError `body` throws (fails the test if none).
func errorMessage(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    do { try body() } catch let e as DatasetError { return e.description } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation); return ""
    }
    Issue.record("expected an error", sourceLocation: sourceLocation)
    return ""
}

import Testing
