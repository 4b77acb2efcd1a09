import FuzzSupport
import ModelFiles

/// One .safetensors file: header JSON, tensor table, every tensor read end to end.
func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write(UnsafeRawBufferPointer(start: data, count: size), "model.safetensors")
    guard let archive = try? SafetensorsArchive(path: path) else { return 0 }
    for name in archive.tensorNames {
        if let t = archive.tensors[name], t.byteCount <= 1 << 20 { _ = t.floats() }
    }
    return 0
}

runFuzzer(fuzzSafetensors)
