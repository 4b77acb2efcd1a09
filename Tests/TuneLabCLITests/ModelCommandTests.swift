import Foundation
import Testing

/// Runs `tunelab` with arguments in a scratch working directory outside the checkout (as a user
/// elsewhere would: defaults must be found from there, and the runs it records land there, not in
/// the checkout's `experiments/`); returns exit status, stdout and stderr.
func tunelab(_ args: [String], env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: Binary.path)
    p.arguments = args
    p.currentDirectoryURL = scratchDirectory
    if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func json(_ s: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
}

/// The working directory of `tunelab(_:)` (one per test process).
let scratchDirectory: URL = {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-cli-cwd-\(getpid())")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}()

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

@Suite(.serialized) struct ModelCommands {
    /// The same ids as the Hugging Face reference for the default model.
    @Test func tokenizePrintsReferenceIds() throws {
        let refs = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("smollm2/prompts.json"))) as? [[String: Any]])
        let p = try #require(refs.first { ($0["name"] as? String) == "chinese_medical" })
        let r = try tunelab(["tokenize", "--model", "default", p["text"] as! String])
        #expect(r.status == 0, "\(r.err)")
        let ids = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [Int]
        #expect(ids == p["ids"] as? [Int])
        let j = try json(try tunelab(["tokenize", "--json", p["text"] as! String]).out)
        #expect(j["ids"] as? [Int] == p["ids"] as? [Int])
    }

    @Test func generateStreamsGreedyReferenceText() throws {
        let g = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("smollm2/greedy.json"))) as? [String: Any])
        let prompts = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("smollm2/prompts.json"))) as? [[String: Any]])
        let ref = try #require((g["results"] as! [[String: Any]]).first { ($0["name"] as! String) == "code" })
        let text = try #require(prompts.first { ($0["name"] as! String) == "code" }?["text"] as? String)
        let r = try tunelab(["generate", "--prompt", text, "--max-new-tokens", "16", "--ignore-eos"])
        #expect(r.status == 0, "\(r.err)")
        let j = try json(try tunelab(["generate", "--json", "--prompt", text, "--max-new-tokens", "16", "--ignore-eos"]).out)
        #expect(j["ids"] as? [Int] == Array((ref["new_ids"] as! [Int]).prefix(16)))
        #expect(r.out == (j["text"] as! String) + "\n")
        #expect(r.err.contains("tok/s"))
    }

    @Test func chatGenerationStopsAtEndOfTurn() throws {
        let j = try json(try tunelab(["generate", "--json", "--chat", "--prompt", "Say hello.", "--max-new-tokens", "200"]).out)
        #expect(j["stop"] as? String == "eos")
        #expect((j["new_tokens"] as! Int) < 200)
    }

    @Test func scoreMatchesReferenceNLL() throws {
        let ref = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("smollm2/nll.json"))) as? [String: Any])
        let j = try json(try tunelab(["score", "--json", "--text", ref["text"] as! String]).out)
        let want = ref["mean_nll"] as! Double
        #expect(abs((j["nll"] as! Double) - want) / want < 1e-4)
        #expect(abs((j["perplexity"] as! Double) - (ref["perplexity"] as! Double)) / (ref["perplexity"] as! Double) < 1e-3)
    }

    @Test func infoDescribesTheModel() throws {
        let j = try json(try tunelab(["info", "--json", "--model", "default"]).out)
        #expect(j["architecture"] as? String == "llama")
        #expect(j["layers"] as? Int == 30 && j["hidden_size"] as? Int == 576 && j["kv_heads"] as? Int == 3)
        #expect((j["matrix_types"] as? [String: Int])?.keys.sorted() == ["q4_1", "q8_0"])
        #expect((j["chat_template"] as? String)?.contains("<|im_start|>") == true)
        let tiny = try json(try tunelab(["info", "--json", "--model", fixtures.appendingPathComponent("tiny-qwen2").path]).out)
        #expect(tiny["architecture"] as? String == "qwen2" && tiny["attention_bias"] as? Bool == true)
    }

    @Test func badModelPathIsAClearError() throws {
        let r = try tunelab(["generate", "--model", "/nope/missing.gguf", "--prompt", "x"])
        #expect(r.status != 0)
        #expect(r.err.contains("/nope/missing.gguf"))
        #expect(!r.err.contains("Fatal error") && !r.err.contains("crashed"))
    }
}
