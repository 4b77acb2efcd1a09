import Foundation
import Testing
@testable import Metrics

@Suite struct JiebaDataTests {
    private func tempDir(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jieba-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    private let source = #"{"package": "jieba", "version": "0.42.1"}"#
    private var hmmTSV: String { (try? String(contentsOf: Paths.jieba.appendingPathComponent("hmm.tsv"), encoding: .utf8)) ?? "" }

    @Test func loadsTheDictionaryFastAndCompletely() throws {
        let t0 = Date()
        let j = try JiebaData.load(from: Paths.jieba)
        let seconds = Date().timeIntervalSince(t0)
        // jieba 0.42.1's dict.txt: 349,046 entries; `total` as gen_pfdict sums it.
        #expect(j.dictionary.wordCount == 349_046)
        #expect(j.dictionary.total == 60_101_967)
        #expect(j.dictionary.frequency(of: "清华大学".unicodeScalars.map(\.value))! > 0)
        #expect(j.dictionary.frequency(of: "清华大".unicodeScalars.map(\.value)) == 0)   // a prefix only
        print("jieba load: \(j.dictionary.wordCount) words, \(j.dictionary.nodeCount) prefix nodes in \(String(format: "%.3f", seconds)) s")
    }

    /// jieba's README examples; the second needs the HMM for the unknown word 杭研.
    @Test func readmeExamples() {
        #expect(testJieba.cut("我来到北京清华大学") == ["我", "来到", "北京", "清华大学"])
        #expect(testJieba.cut("他来到了网易杭研大厦") == ["他", "来到", "了", "网易", "杭研", "大厦"])
        #expect(testJieba.cut("他来到了网易杭研大厦", hmm: false) == ["他", "来到", "了", "网易", "杭", "研", "大厦"])
        #expect(testJieba.cut("a\r\nb  c") == ["a", "\r\n", "b", " ", " ", "c"])
        #expect(testJieba.cut("") == [])
    }

    @Test func missingDataSaysRunSetup() throws {
        let empty = try tempDir([:])
        #expect(throws: MetricsError.self) { try JiebaData.locate(environment: [JiebaData.environmentVariable: empty.path]) }
        do { _ = try JiebaData.locate(environment: [JiebaData.environmentVariable: empty.path]) } catch {
            #expect("\(error)".contains("scripts/setup.sh") && "\(error)".contains(empty.path))
        }
        do { _ = try JiebaData.load(from: empty); Issue.record("loaded from an empty folder") } catch {
            #expect("\(error)".contains("scripts/setup.sh"))
        }
        #expect(try JiebaData.locate(environment: [JiebaData.environmentVariable: Paths.jieba.path]) == Paths.jieba)
    }

    @Test func badDataIsNamedByFileAndLine() throws {
        let badDict = try tempDir(["dict.txt": "你好 3 l\n坏行\n", "hmm.tsv": hmmTSV, "source.json": source])
        do { _ = try JiebaData.load(from: badDict); Issue.record("accepted a bad dictionary") } catch {
            #expect("\(error)".contains("dict.txt:2"), "\(error)")
        }
        let badHMM = try tempDir(["dict.txt": "你好 3 l\n", "hmm.tsv": "start\tB\t-0.26\nstart\tX\t1\n", "source.json": source])
        do { _ = try JiebaData.load(from: badHMM); Issue.record("accepted a bad HMM table") } catch {
            #expect("\(error)".contains("hmm.tsv:2"), "\(error)")
        }
        let otherVersion = try tempDir(["dict.txt": "你好 3 l\n", "hmm.tsv": hmmTSV, "source.json": #"{"version": "0.40"}"#])
        do { _ = try JiebaData.load(from: otherVersion); Issue.record("accepted jieba 0.40 data") } catch {
            #expect("\(error)".contains("0.40") && "\(error)".contains("0.42.1"), "\(error)")
        }
    }
}
