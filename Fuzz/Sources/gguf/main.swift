import FuzzSupport
import ModelFiles
import Tokenization
import Transformer

/// A GGUF file: header, metadata, tensor table; every tensor read end to end; the model config,
/// the tokenizer (encode and decode) and the whole model's weights bound from it.
func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write(UnsafeRawBufferPointer(start: data, count: size), "model.gguf")
    guard let file = try? GGUFFile(path: path) else { return 0 }
    for name in file.tensorNames {
        if let t = file.tensors[name], t.byteCount <= 1 << 20 { _ = t.floats() }
    }
    _ = try? ModelConfig.fromGGUF(file)
    if let tok = try? Tokenizer.load(gguf: file) {
        let ids = tok.encode("Hello, world! 123 héllo 患者 <|im_start|>", addSpecialTokens: true)
        _ = tok.decode(ids + [0, 1, 2, tok.vocabSize - 1, tok.vocabSize, -1])
    }
    _ = try? LanguageModel.load(path)
    return 0
}

runFuzzer(fuzzGGUF)
