#if canImport(Glibc)
import Glibc
#endif

/// Scratch files for readers that take a path: one folder per fuzzing process, on tmpfs when
/// there is one, rewritten for every input.
public enum Scratch {
    public static let folder: String = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let dir = "\(base)/tunelab-fuzz-\(getpid())"
        mkdir(dir, 0o700)
        atexit { removeTree(Scratch.folder) }
        return dir
    }()

    /// Writes `bytes` to `folder/name` (replacing it) and returns the path.
    @discardableResult
    public static func write(_ bytes: UnsafeRawBufferPointer, _ name: String) -> String {
        let path = folder + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "fuzz scratch: cannot write \(path)")
        var done = 0
        while done < bytes.count, let base = bytes.baseAddress {
            let n = Glibc.write(fd, base + done, bytes.count - done)
            precondition(n > 0, "fuzz scratch: write failed")
            done += n
        }
        close(fd)
        return path
    }

    @discardableResult
    public static func write(_ bytes: [UInt8], _ name: String) -> String {
        bytes.withUnsafeBytes { write($0, name) }
    }

    /// Copies a file from the seed/support folder (next to the corpus) into the scratch folder.
    public static func copy(_ from: String, _ name: String) {
        guard let f = fopen(from, "rb") else { preconditionFailure("fuzz scratch: no \(from)") }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes += buf[0 ..< n]
        }
        write(bytes, name)
    }

    static func removeTree(_ dir: String) {
        guard let d = opendir(dir) else { return }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            let p = dir + "/" + name
            if unlink(p) != 0 { removeTree(p) }
        }
        closedir(d)
        rmdir(dir)
    }
}

/// The repository root ($TUNELAB_ROOT, set by scripts/fuzz.sh): the targets take their fixed
/// companions (shards, tokenizer, a model config) from Tests/Fixtures and Fuzz/Support.
public let repoRoot: String = {
    if let s = getenv("TUNELAB_ROOT") { return String(cString: s) }
    return "."
}()

/// The input as a Swift byte array and as a string (lossy: invalid UTF-8 becomes U+FFFD, as
/// readers that take text see it).
public func bytes(_ data: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
    guard let data, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: count))
}

public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                                 _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                                 _ callback: FuzzCallback) -> CInt

/// Hands the command line to libFuzzer. (SwiftPM makes an executable's `main` its own entry
/// point, so libFuzzer's `main` is not used: each target's main.swift ends with this call.)
public func runFuzzer(_ callback: FuzzCallback) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
}
