import Foundation
import Testing
@testable import Dataset

struct PackingSplitTests {
    @Test func packingKeepsLabelsAndBoundaries() throws {
        let d = try Dataset.load(path: Paths.sample)
        let t = try PromptTemplate.load(path: Paths.template)
        let (ex, st) = try ExampleBuilder(template: t, tokenizer: SmolLM2.tokenizer).examples(d)
        let packed = try pack(ex, maxLength: 1024)
        #expect(packed.count < ex.count)
        #expect(packed.allSatisfy { $0.ids.count <= 1024 && $0.ids.count == $0.labels.count && $0.positions.count == $0.ids.count })
        #expect(packed.flatMap(\.rows) == ex.map(\.row))
        #expect(packed.reduce(0) { $0 + $1.ids.count } == st.tokens)
        var k = 0
        for s in packed {
            for (j, start) in s.starts.enumerated() {
                let e = ex[k]; k += 1
                #expect(Array(s.ids[start..<(start + e.ids.count)]) == e.ids)
                #expect(Array(s.labels[start..<(start + e.ids.count)]) == e.labels)
                #expect(Array(s.positions[start..<(start + e.ids.count)]) == Array(0..<e.ids.count))
                #expect(j + 1 == s.starts.count || s.starts[j + 1] == start + e.ids.count)
            }
        }
        #expect(errorMessage { _ = try pack(ex, maxLength: 100) }.contains("longer than the packing length 100"))
    }

    @Test func seededSplitIsDeterministicAndDisjoint() throws {
        let d = try Dataset.load(path: Paths.o1)
        let (t1, v1) = try d.split(validation: .fraction(0.1), seed: 42)
        let (t2, v2) = try d.split(validation: .fraction(0.1), seed: 42)
        let (_, v3) = try d.split(validation: .fraction(0.1), seed: 7)
        #expect(v1.rows.count == 16 && t1.rows.count == 144)
        #expect(v1.rows == v2.rows && t1.rows == t2.rows)
        #expect(v1.rows.map(\.index) != v3.rows.map(\.index))
        #expect(Set(t1.rows.map(\.index)).isDisjoint(with: v1.rows.map(\.index)))
        #expect((t1.rows + v1.rows).map(\.index).sorted() == Array(0..<160))
        #expect(try d.split(validation: .count(5), seed: 1).validation.rows.count == 5)
        // A validation set is not just the first or last rows.
        #expect(v1.rows.map(\.index) != Array(0..<16) && v1.rows.map(\.index) != Array(144..<160))
        #expect(errorMessage { _ = try d.split(validation: .count(160), seed: 1) }.contains("no training rows"))
        #expect(errorMessage { _ = try d.split(validation: .fraction(1.5), seed: 1) }.contains("between 0 and 1"))
    }

    @Test func splitMix64MatchesTheReferenceSequence() {
        // First outputs for seed 1234567 from the SplitMix64 reference (Vigna, splitmix64.c).
        var r = SplitMix64(state: 1234567)
        #expect(r.next() == 6457827717110365317)
        #expect(r.next() == 3203168211198807973)
    }
}
