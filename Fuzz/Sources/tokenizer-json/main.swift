import FuzzSupport
import Tokenization

/// A Hugging Face tokenizer.json: loaded, then used to encode and decode text with special
/// tokens, digits, CJK, combining marks and invalid ids.
func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write(UnsafeRawBufferPointer(start: data, count: size), "tokenizer.json")
    guard let tok = try? Tokenizer.load(tokenizerJSON: path) else { return 0 }
    let ids = tok.encode("Hello, world! 12345 e\u{301} 患者发热 <|im_start|>user\n<think>", addSpecialTokens: true)
    _ = tok.decode(ids + [0, tok.vocabSize - 1, tok.vocabSize, -1])
    let stream = tok.makeStreamDecoder()
    for id in ids { _ = stream.push(id) }
    _ = stream.flush()
    return 0
}

runFuzzer(fuzzTokenizerJSON)
