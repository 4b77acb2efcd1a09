import FuzzSupport
import ModelFiles
import Training
#if canImport(Glibc)
import Glibc
#endif

/// A PEFT adapter_config.json, alone and as the config of an adapter folder whose weights are a
/// real tiny-llama3 adapter (loaded against that model's config).
let setup: (dir: String, model: ModelConfig) = {
    let dir = Scratch.folder + "/adapter"
    mkdir(dir, 0o700)
    Scratch.copy(repoRoot + "/Tests/Fixtures/peft/tiny-llama3/adapter/adapter_model.safetensors", "adapter/adapter_model.safetensors")
    Scratch.copy(repoRoot + "/Tests/Fixtures/tiny-llama3/config.json", "config.json")
    guard let model = try? ModelConfig.fromHF(configPath: Scratch.folder + "/config.json") else {
        fatalError("fuzz support: Tests/Fixtures/tiny-llama3/config.json does not load")
    }
    return (dir, model)
}()

func fuzzPEFTConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let (dir, model) = setup
    let path = Scratch.write(UnsafeRawBufferPointer(start: data, count: size), "adapter/adapter_config.json")
    _ = try? PEFTAdapterConfig.read(path: path, knownModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    _ = try? LoRAAdapter.load(directory: dir, model: model)
    return 0
}

runFuzzer(fuzzPEFTConfig)
