import FuzzSupport
import ModelFiles

/// A Hugging Face config.json (llama / qwen2), every derived size computed.
func fuzzHFConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write(UnsafeRawBufferPointer(start: data, count: size), "config.json")
    _ = try? ModelConfig.fromHF(configPath: path)
    return 0
}

runFuzzer(fuzzHFConfig)
