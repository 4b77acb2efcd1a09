#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tensors of one .safetensors file, or of a Hugging Face model folder (model.safetensors, or the
/// shards listed in model.safetensors.index.json). Every shard stays memory-mapped while this lives.
public final class SafetensorsArchive: @unchecked Sendable {
    public let path: String
    public let tensors: [String: TensorInfo]
    /// `__metadata__` of the file (of all shards, merged).
    public let metadata: [String: String]
    /// Tensor names in storage order (shard by shard, by data offset).
    public let tensorNames: [String]
    private let files: [MappedFile]

    /// Same limit as the safetensors library (100 MB header).
    static let maxHeaderBytes = 100_000_000

    public init(path: String) throws {
        self.path = path
        guard let isDirectory = fileKind(path) else { throw ModelFileError(path, "no such file or folder") }
        var indexPath: String? = nil
        var single = path
        if isDirectory {
            let index = path + "/model.safetensors.index.json"
            let model = path + "/model.safetensors"
            if fileKind(index) == false { indexPath = index }
            else if fileKind(model) == false { single = model }
            else { throw ModelFileError(path, "folder holds neither model.safetensors nor model.safetensors.index.json") }
        } else if path.hasSuffix(".index.json") {
            indexPath = path
        }

        var files: [MappedFile] = []
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        var names: [String] = []
        func add(_ file: MappedFile) throws -> Set<String> {
            let parsed = try Self.parse(file)
            files.append(file)
            for info in parsed.tensors {
                guard tensors.updateValue(info, forKey: info.name) == nil else {
                    throw ModelFileError(file.path, "tensor '\(info.name)' also appears in another shard")
                }
                names.append(info.name)
            }
            metadata.merge(parsed.metadata) { first, _ in first }
            return Set(parsed.tensors.map(\.name))
        }

        if let indexPath {
            let root = try JSONValue.parse(fileAt: indexPath, what: "index")
            guard let map = root.object?["weight_map"]?.object else {
                throw ModelFileError(indexPath, "no \"weight_map\" object")
            }
            var shardOf: [String: String] = [:]
            var shards: [String] = []
            for (tensor, value) in map {
                guard let shard = value.string, !shard.isEmpty else {
                    throw ModelFileError(indexPath, "weight_map entry '\(tensor)' is not a file name")
                }
                // Shards sit next to the index: a name with a path in it ("../x", "/etc/x",
                // "sub/x") would read a file outside the model folder.
                guard !shard.contains("/"), !shard.contains("\\"), !shard.contains("\0"), shard != ".", shard != ".." else {
                    throw ModelFileError(indexPath, "weight_map entry '\(tensor)' names the shard \(shard.debugDescription), which is not a file name in the model folder")
                }
                shardOf[tensor] = shard
                if !shards.contains(shard) { shards.append(shard) }
            }
            let folder = indexPath.lastIndex(of: "/").map { String(indexPath[...$0]) } ?? ""
            var shardTensors: [String: Set<String>] = [:]
            for shard in shards.sorted() {
                shardTensors[shard] = try add(MappedFile(path: folder + shard))
            }
            for (tensor, shard) in shardOf where shardTensors[shard]?.contains(tensor) != true {
                throw ModelFileError(indexPath, "weight_map puts '\(tensor)' in \(shard), which has no such tensor")
            }
        } else {
            _ = try add(MappedFile(path: single))
        }
        self.files = files
        self.tensors = tensors
        self.metadata = metadata
        tensorNames = names
    }

    public func tensor(_ name: String) throws -> TensorInfo {
        guard let t = tensors[name] else { throw ModelFileError(path, "no tensor named '\(name)'") }
        return t
    }

    /// Header and tensor table of one file; every offset checked against the file size.
    static func parse(_ file: MappedFile) throws -> (tensors: [TensorInfo], metadata: [String: String]) {
        let path = file.path
        var r = ByteReader(path: path, bytes: file.bytes)
        let headerBytes = try r.read(UInt64.self, "header length")
        guard headerBytes <= UInt64(maxHeaderBytes) else {
            throw ModelFileError(path, "header length \(headerBytes) is larger than the 100 MB the format allows", offset: 0)
        }
        guard Int(headerBytes) <= r.remaining else {
            throw ModelFileError(path, "header length \(headerBytes) runs past the end of the \(file.count)-byte file (truncated?)", offset: 0)
        }
        let n = Int(headerBytes)
        let header = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: file.bytes[8 ..< 8 + n]), path: path, what: "header")
        guard let entries = header.object else { throw ModelFileError(path, "header is not a JSON object", offset: 8) }
        let dataStart = 8 + n
        let dataBytes = file.count - dataStart
        guard let base = file.bytes.baseAddress else { throw ModelFileError(path, "file is empty") }

        var metadata: [String: String] = [:]
        var tensors: [(offset: Int, info: TensorInfo)] = []
        for (name, entry) in entries {
            if name == "__metadata__" {
                guard let object = entry.object else { throw ModelFileError(path, "__metadata__ is not an object") }
                for (key, value) in object {
                    guard let s = value.string else { throw ModelFileError(path, "__metadata__ value '\(key)' is not a string") }
                    metadata[key] = s
                }
                continue
            }
            guard let fields = entry.object else { throw ModelFileError(path, "tensor '\(name)': header entry is not an object") }
            guard let dtype = fields["dtype"]?.string else { throw ModelFileError(path, "tensor '\(name)': no dtype") }
            let type: TensorType
            switch dtype {
            case "F32": type = .f32
            case "F16": type = .f16
            case "BF16": type = .bf16
            default: throw ModelFileError(path, "tensor '\(name)' has unsupported dtype \(dtype) (supported: F32, F16, BF16)")
            }
            guard let dims = fields["shape"]?.array else { throw ModelFileError(path, "tensor '\(name)': no shape") }
            var shape: [Int] = []
            var count = 1
            for d in dims {
                guard let v = d.int, v >= 0 else {
                    let shown = dims.prefix(8).map { $0.int.map(String.init) ?? $0.double.map { "\($0)" } ?? "?" }
                    throw ModelFileError(path, "tensor '\(name)': bad shape [\(shown.joined(separator: ", "))\(dims.count > 8 ? ", …" : "")] (dimensions must be integers ≥ 0)")
                }
                let (p, overflow) = count.multipliedReportingOverflow(by: v)
                guard !overflow else { throw ModelFileError(path, "tensor '\(name)': shape \(shape + [v]) is too large") }
                count = p
                shape.append(v)
            }
            guard let offsets = fields["data_offsets"]?.array, offsets.count == 2,
                  let begin = offsets[0].int, let end = offsets[1].int, begin >= 0, begin <= end else {
                throw ModelFileError(path, "tensor '\(name)': data_offsets must be [begin, end] with 0 <= begin <= end")
            }
            guard end <= dataBytes else {
                throw ModelFileError(path, "tensor '\(name)' needs data bytes \(begin)..<\(end) but the file holds only \(max(dataBytes, 0)) after the header (truncated?)")
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: type.blockBytes)
            guard !overflow, bytes == end - begin else {
                throw ModelFileError(path, "tensor '\(name)': \(dtype) \(shape) needs \(overflow ? "too many" : String(bytes)) bytes but data_offsets span \(end - begin)")
            }
            tensors.append((begin, TensorInfo(name: name, shape: shape, type: type, data: base + dataStart + begin)))
        }
        tensors.sort { ($0.offset, $0.info.name) < ($1.offset, $1.info.name) }
        // Tensors must not share bytes (the safetensors library refuses that too).
        let extents = tensors.filter { $0.info.byteCount > 0 }
        for (a, b) in zip(extents, extents.dropFirst()) where b.offset < a.offset + a.info.byteCount {
            throw ModelFileError(path, "tensors '\(a.info.name)' (data bytes \(a.offset)..<\(a.offset + a.info.byteCount)) and '\(b.info.name)' (\(b.offset)..<\(b.offset + b.info.byteCount)) overlap")
        }
        return (tensors.map(\.info), metadata)
    }
}

/// nil: nothing there; true: a folder; false: something else (a file).
private func fileKind(_ path: String) -> Bool? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return (st.st_mode & S_IFMT) == S_IFDIR
}
