import FuzzSupport
import ModelFiles
#if canImport(Glibc)
import Glibc
#endif

/// A model.safetensors.index.json next to two valid shards. A shard outside the model folder
/// holds a tensor named "outside": if it is ever loaded, the index escaped the folder (`../`,
/// an absolute path, …) and the target stops with a finding.
let folder: String = {
    let dir = Scratch.folder + "/model"
    mkdir(dir, 0o700)
    for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
        Scratch.copy(repoRoot + "/Tests/Fixtures/modelfiles/safetensors/sharded/" + shard, "model/" + shard)
    }
    Scratch.copy(repoRoot + "/Fuzz/Support/outside.safetensors", "outside.safetensors")
    return dir
}()

func fuzzSafetensorsIndex(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = folder
    Scratch.write(UnsafeRawBufferPointer(start: data, count: size), "model/model.safetensors.index.json")
    guard let archive = try? SafetensorsArchive(path: folder) else { return 0 }
    if archive.tensors["outside"] != nil {
        fatalError("finding: the index loaded a shard outside the model folder")
    }
    for name in archive.tensorNames { _ = archive.tensors[name]?.floats() }
    return 0
}

runFuzzer(fuzzSafetensorsIndex)
