import Foundation
import Testing
@testable import Hub

@Suite struct HubSpecTests {
    @Test func modelAndDatasetForms() {
        #expect(HubClient.parse("hf:HuggingFaceTB/SmolLM2-135M-Instruct")
                == HubSpec(repo: "HuggingFaceTB/SmolLM2-135M-Instruct"))
        #expect(HubClient.parse("hf:FreedomIntelligence/medical-o1-reasoning-SFT/medical_o1_sft.json")
                == HubSpec(repo: "FreedomIntelligence/medical-o1-reasoning-SFT", path: "medical_o1_sft.json"))
        #expect(HubClient.parse("hf:org/name/data/train/part.jsonl")
                == HubSpec(repo: "org/name", path: "data/train/part.jsonl"))
        #expect(HubClient.parse("hf:org/name@v1.0") == HubSpec(repo: "org/name", revision: "v1.0"))
        #expect(HubClient.parse("hf:org/name@abc123/model.Q4_1.gguf")
                == HubSpec(repo: "org/name", path: "model.Q4_1.gguf", revision: "abc123"))
        #expect(HubClient.parse("hf://org/name") == HubSpec(repo: "org/name"))
        #expect(HubClient.parse("hf://org/name@dev/x.json") == HubSpec(repo: "org/name", path: "x.json", revision: "dev"))
        #expect(HubClient.parse("hf://datasets/org/name/x.json") == HubSpec(repo: "org/name", path: "x.json", kind: .dataset))
        #expect(HubClient.parse("hf:models/org/name") == HubSpec(repo: "org/name", kind: .model))
        #expect(HubClient.parse("hf:gpt2") == HubSpec(repo: "gpt2"))
        #expect(HubClient.parse("hf:gpt2@main") == HubSpec(repo: "gpt2"))
        #expect(HubClient.parse("hf:org/name/") == HubSpec(repo: "org/name"))
        #expect(HubClient.parse("hf:org/name@refs%2Fpr%2F1/x.json") == HubSpec(repo: "org/name", path: "x.json", revision: "refs/pr/1"))
    }

    @Test func nonHubSpecsAreNil() throws {
        for s in ["models/x.gguf", "/abs/path/model.gguf", "HuggingFaceTB/SmolLM2-135M-Instruct", "hf", "https://huggingface.co/org/name", ""] {
            #expect(HubClient.parse(s) == nil, "\(s)")
            #expect(try HubClient.parseChecked(s) == nil, "\(s)")
        }
    }

    @Test func malformedSpecsThrowWithReason() {
        for s in ["hf:", "hf://", "hf:org/na me", "hf:org/name@", "hf:org/name/../../etc/passwd", "hf:-org/name", "hf:org//x.json", "hf:org/name/a//b.json"] {
            #expect(HubClient.parse(s) == nil, "\(s)")
            #expect(throws: HubError.self, "\(s)") { try HubClient.parseChecked(s) }
        }
        do {
            _ = try HubClient.parseChecked("hf:org/na me")
        } catch {
            #expect("\(error)".contains("hf:org/na me"))
            #expect("\(error)".contains("not a valid hub name"))
        }
    }

    @Test func descriptionRoundTrips() {
        for s in ["hf:org/name", "hf:org/name@dev/a/b.json", "hf:datasets/org/name/x.jsonl", "hf:org/name@refs%2Fpr%2F1"] {
            let spec = HubClient.parse(s)
            #expect(spec?.description == s)
            #expect(spec.flatMap { HubClient.parse($0.description) } == spec)
        }
    }
}

@Suite struct HubURLTests {
    @Test func resolveURLsFollowTheHubShapes() {
        let client = HubClient(endpoint: URL(string: "https://hub.example/")!, token: "", cacheDirectory: "/tmp/x", offline: false)
        #expect(client.endpoint.absoluteString == "https://hub.example")
        #expect(client.resolveURL(.model, repo: "org/m", revision: "main", file: "model.safetensors").absoluteString
                == "https://hub.example/org/m/resolve/main/model.safetensors")
        #expect(client.resolveURL(.dataset, repo: "org/d", revision: "refs/pr/1", file: "data/my file#1.json").absoluteString
                == "https://hub.example/datasets/org/d/resolve/refs%2Fpr%2F1/data/my%20file%231.json")
        #expect(client.repoFolder(.dataset, repo: "org/d") == "/tmp/x/datasets--org--d")
    }

    @Test func lfsETagsAreRecognised() {
        let sha = String(repeating: "a1", count: 32)
        #expect(HubClient.sha256FromETag("\"\(sha)\"") == sha)
        #expect(HubClient.sha256FromETag("W/\"\(sha.uppercased())\"") == sha)
        #expect(HubClient.sha256FromETag("\"\(String(repeating: "ab", count: 20))\"") == nil)   // git blob sha1
        #expect(HubClient.sha256FromETag("\"d41d8cd98f00b204e9800998ecf8427e-12\"") == nil)    // S3 multipart
    }
}
