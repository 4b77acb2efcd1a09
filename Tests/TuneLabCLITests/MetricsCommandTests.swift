import Foundation
import Testing

/// `tunelab metrics` on the parity fixture's verbatim edge-case pairs, and on bad input.
@Suite struct MetricsCommandTests {
    private static let fixture: [String: Any] = {
        let url = fixtures.appendingPathComponent("metrics/parity.json")
        return try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }()

    private func tempFile(_ name: String, _ bytes: [UInt8]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func jsonl(_ texts: [String]) throws -> [UInt8] {
        var out: [UInt8] = []
        for t in texts {
            out += try JSONSerialization.data(withJSONObject: t, options: [.fragmentsAllowed])
            out.append(0x0A)
        }
        return out
    }

    /// The reported means are np.mean's bits for the same rows (fixture values are exact repr strings).
    @Test func edgeCasesGiveTheReferenceMeans() throws {
        let edge = (Self.fixture["pairs"] as! [[String: Any]]).filter { ($0["group"] as! String) == "edge" }
        let preds = edge.map { ($0["prediction"] as! [String: Any])["text"] as! String }
        let refs = edge.map { ($0["reference"] as! [String: Any])["text"] as! String }
        let p = try tempFile("P.jsonl", jsonl(preds)), r = try tempFile("R.jsonl", jsonl(refs))
        let run = try tunelab(["metrics", "--predictions", p, "--references", r, "--json"])
        #expect(run.status == 0, "\(run.err)")
        let got = try json(run.out)
        #expect(Set(got.keys) == ["bleu4", "rouge1", "rouge2", "rougeL"])
        // Compare the printed decimals, parsed by Swift (exact), not Foundation's JSON numbers.
        let want = (Self.fixture["edge_means"] as! [String: String]).mapValues { Double($0)! }
        for key in got.keys {
            let printed = try #require(run.out.range(of: "\"\(key)\":")).upperBound
            let number = run.out[printed...].prefix { "0123456789.e-+".contains($0) }
            #expect(Double(String(number)) == want[key], "\(key): \(number) vs \(want[key]!)")
        }

        let table = try tunelab(["metrics", "--predictions", p, "--references", r])
        #expect(table.status == 0)
        #expect(table.out.contains("bleu4") && table.out.contains("NLTK method3") && table.out.contains("jieba 0.42.1")
                && table.out.contains("rouge-chinese 1.0.3") && table.out.contains("\(edge.count)"))
    }

    @Test func badInputNamesFileAndLine() throws {
        let good = try tempFile("good.jsonl", jsonl(["a", "b", "c"]))
        let short = try tempFile("short.jsonl", jsonl(["a", "b"]))
        var r = try tunelab(["metrics", "--predictions", short, "--references", good, "--json"])
        #expect(r.status != 0 && r.err.contains("\(good):3") && r.err.contains("2 lines"), "\(r.err)")

        let object = try tempFile("object.jsonl", Array("\"a\"\n{\"text\": \"b\"}\n\"c\"\n".utf8))
        r = try tunelab(["metrics", "--predictions", object, "--references", good])
        #expect(r.status != 0 && r.err.contains("\(object):2: expected a JSON string"), "\(r.err)")

        let latin1 = try tempFile("latin1.jsonl", Array("\"a\"\n\"b\"\n\"".utf8) + [0xE9, 0x22, 0x0A])
        r = try tunelab(["metrics", "--predictions", good, "--references", latin1])
        #expect(r.status != 0 && r.err.contains("\(latin1):3: not valid UTF-8"), "\(r.err)")

        let empty = try tempFile("empty.jsonl", [])
        r = try tunelab(["metrics", "--predictions", empty, "--references", good])
        #expect(r.status != 0 && r.err.contains("\(empty): the file is empty"), "\(r.err)")

        r = try tunelab(["metrics", "--predictions", good, "--references", good + ".missing"])
        #expect(r.status != 0 && r.err.contains("good.jsonl.missing"), "\(r.err)")
    }

    @Test func missingJiebaDataSaysRunSetup() throws {
        let good = try tempFile("good.jsonl", jsonl(["患者发热"]))
        let emptyDir = URL(fileURLWithPath: good).deletingLastPathComponent().appendingPathComponent("no-jieba").path
        try FileManager.default.createDirectory(atPath: emptyDir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Binary.path)
        p.arguments = ["metrics", "--predictions", good, "--references", good]
        p.environment = ProcessInfo.processInfo.environment.merging(["TUNELAB_JIEBA": emptyDir]) { $1 }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus != 0 && e.contains("scripts/setup.sh") && e.contains(emptyDir), "\(e)")
    }
}
