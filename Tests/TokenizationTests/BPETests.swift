import Foundation
import Testing
@testable import Tokenization

@Suite struct BPETests {
    /// The heap-ordered merge loop (long words) and the array loop (short words) agree.
    @Test func mergeLoopsAgree() throws {
        let tok = try HuggingFaceTokenizerTests.tiny("tiny-qwen2")
        let strings = try Fixture.strings()
        var rng = SystemRandomNumberGenerator()
        var words: [[UInt8]] = strings.map { Array($0.utf8) }.filter { !$0.isEmpty }
        for _ in 0..<300 {
            let a = strings.randomElement(using: &rng)!, b = strings.randomElement(using: &rng)!
            words.append(Array((a + b).utf8.prefix(Int.random(in: 2...120, using: &rng))))
        }
        let bpe = tok.bpeModelForTesting
        for w in words {
            #expect(bpe.mergeUncached(w, heap: true) == bpe.mergeUncached(w, heap: false), "\(w)")
        }
    }

    @Test func byteLevelMapRoundTrips() {
        let all = (0...255).map { UInt8($0) }
        #expect(ByteLevel.decode(ByteLevel.encode(all)) == all)
        #expect(ByteLevel.encode([0x20]) == "Ġ")
        #expect(ByteLevel.encode([0x0A]) == "Ċ")
        #expect(ByteLevel.decode("<｜end▁of▁sentence｜>") == nil)
    }

    @Test func incompleteUTF8Tail() {
        #expect(StreamDecoder.incompleteTail([0x61]) == 0)
        #expect(StreamDecoder.incompleteTail([0xE4]) == 1)
        #expect(StreamDecoder.incompleteTail([0xE4, 0xB8]) == 2)
        #expect(StreamDecoder.incompleteTail([0xE4, 0xB8, 0xAD]) == 0)
        #expect(StreamDecoder.incompleteTail([0xF0, 0x9F, 0x98]) == 3)
        #expect(StreamDecoder.incompleteTail([0xE0, 0x80]) == 0)  // overlong: never completes
        #expect(StreamDecoder.incompleteTail([0x80, 0x80]) == 0)
    }

    @Test func streamDecoderSplitsCharactersAcrossTokens() throws {
        let tok = try HuggingFaceTokenizerTests.tiny("tiny-qwen2")
        // A rare character the tiny vocabulary has no token for: one byte token per UTF-8 byte.
        let ids = tok.encode("𒀀")
        #expect(ids.count == 4)
        let stream = tok.makeStreamDecoder()
        #expect(stream.push(ids[0]) == "")
        #expect(stream.push(ids[1]) == "")
        #expect(stream.push(ids[2]) == "")
        #expect(stream.push(ids[3]) == "𒀀")
        #expect(stream.flush() == "")
        // An unfinished character at the end comes out as U+FFFD, as decode does.
        let s2 = tok.makeStreamDecoder()
        #expect(s2.push(ids[0]) + s2.flush() == tok.decode([ids[0]]))
        #expect(tok.decode([ids[0]]) == "\u{FFFD}")
    }
}
