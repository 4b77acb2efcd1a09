import Foundation
import Hub
import Kernels
import Notebook
import Record

/// Owns one recorded run: creates it at the first cell, writes what actually ran (the
/// environment again after `load`: thread count, kernel set, bf16 backend), the inputs each cell
/// read (sha256, cached by size/mtime/inode; hub files pinned to their commit), artifacts,
/// and how the run ended.
public final class RunRecorder {
    public let db: ExperimentDB
    public let kind: RunKind
    public let parentRunID: Int64?
    let notebook: Notebook?
    /// The command line of a `command` run.
    let commandLine: String?
    public private(set) var runID: Int64?
    private var failed = false
    private var lastError: String?

    public init(db: ExperimentDB, notebook: Notebook?, kind: RunKind, parentRunID: Int64? = nil, commandLine: String? = nil) {
        self.db = db; self.notebook = notebook; self.kind = kind; self.parentRunID = parentRunID; self.commandLine = commandLine
    }

    @discardableResult
    public func ensureRun() throws -> Int64 {
        if let runID { return runID }
        var nbID: Int64? = nil
        if let nb = notebook {
            nbID = try db.notebookID(path: nb.path, sha256: SHA256.hex(Array(nb.text.utf8)), title: nb.title, content: nb.text)
        }
        let id = try db.createRun(kind: kind, notebookID: nbID, parentRunID: parentRunID, environment: environment(), command: commandLine)
        runID = id
        return id
    }

    /// Records the environment again (after `load` has set the thread count).
    func refreshEnvironment() throws {
        guard let runID else { return }
        try db.updateRunEnvironment(runID, environment())
    }

    func environment() -> RunEnvironment {
        let dir = notebook.map { URL(fileURLWithPath: $0.path).deletingLastPathComponent().path } ?? FileManager.default.currentDirectoryPath
        var extra = ExecutionFingerprint.current.recorded
        extra["os"] = ProcessInfo.processInfo.operatingSystemVersionString
        extra["cores"] = "\(ProcessInfo.processInfo.activeProcessorCount)"
        if let exe = Bundle.main.executablePath { extra["executable"] = exe }
        return RunEnvironment(toolVersion: TuneLabVersion.current, gitCommit: gitCommit(in: dir), hostCPU: RunEnvironment.hostCPUModel,
                              threads: Parallel.workers, blas: BLAS.config, extra: extra)
    }

    func noteFailure(_ error: Error) { failed = true; lastError = "\(error)" }

    public func finish(interrupted: Bool) {
        guard let runID else { return }
        try? db.finishRun(runID, status: interrupted ? .interrupted : (failed ? .failed : .completed), error: lastError)
    }

    // MARK: inputs and artifacts

    /// sha256 of a file, or of a folder's files (sorted names and contents), cached in the record
    /// by (path, size, mtime, inode): a model is hashed once, then again only when it changes.
    public func hash(_ path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw SessionError("\(path): no such file") }
        if isDir.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
            var all = ""
            for n in names { all += n + ":" + (try hash(path + "/" + n)) + "\n" }
            return SHA256.hex(Array(all.utf8))
        }
        var st = stat()
        guard stat(path, &st) == 0 else { return try sha256(file: path) }
        let abs = URL(fileURLWithPath: path).standardizedFileURL.path
        let size = Int64(st.st_size), mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec), inode = Int64(bitPattern: UInt64(st.st_ino))
        if let h = try? db.cachedHash(path: abs, size: size, mtimeNanoseconds: mtime, inode: inode) { return h }
        let h = try sha256(file: path)
        try? db.storeHash(path: abs, size: size, mtimeNanoseconds: mtime, inode: inode, sha256: h)
        return h
    }

    /// The record's entries for the inputs a cell declared: local path → sha256, and for hub
    /// inputs `hf:org/name@<commit>/<file>` → sha256 of every downloaded file.
    func files(_ inputs: [CellInput]) throws -> [String: String] {
        var out: [String: String] = [:]
        for input in inputs {
            switch input {
            case .file(let path):
                guard !path.isEmpty, FileManager.default.fileExists(atPath: path) else { continue }
                out[path] = try hash(path)
            case .hub(let pin):
                for (file, sha) in pin.files { out[pin.key(file)] = sha }
            }
        }
        return out
    }

    func artifact(_ cellID: Int64, _ path: String, kind: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int).flatMap { $0 }.map(Int64.init)
        try db.addArtifact(cellID: cellID, path: path, kind: kind, sha256: try? hash(path), bytes: size)
    }
}

/// An input a cell reads, for the record.
enum CellInput {
    case file(String)
    case hub(HubPin)
}

/// A hub input resolved to the commit it was downloaded at, with every file's sha256.
struct HubPin {
    /// The spec as written (`hf:org/name`), and the same spec at the commit.
    let spec: HubSpec
    let commit: String
    let files: [String: String]

    var pinned: HubSpec { var s = spec; s.revision = commit; s.path = spec.path; return s }

    /// `hf:org/name@<commit>/<file>`: the record's key for one downloaded file.
    func key(_ file: String) -> String {
        var s = spec; s.revision = commit; s.path = nil
        return s.description + "/" + file
    }

    /// Pins what `HubClient` downloaded for `specText` at `localPath` (a snapshot folder or one
    /// file inside it); nil when it is not an `hf:` spec.
    static func make(_ specText: String, localPath: String, recorder: RunRecorder) throws -> HubPin? {
        guard let spec = HubClient.parse(specText) else { return nil }
        guard let commit = HubClient.commit(ofDownloadedPath: localPath) else {
            throw SessionError("\(specText): downloaded to \(localPath), which is not a snapshot folder: cannot pin its commit")
        }
        var files: [String: String] = [:]
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: localPath, isDirectory: &isDir)
        if isDir.boolValue {
            let base = URL(fileURLWithPath: localPath)
            if let e = FileManager.default.enumerator(atPath: localPath) {
                while let rel = e.nextObject() as? String {
                    var d: ObjCBool = false
                    let full = base.appendingPathComponent(rel).path
                    if FileManager.default.fileExists(atPath: full, isDirectory: &d), !d.boolValue, !rel.hasPrefix(".") {
                        files[rel] = try recorder.hash(full)
                    }
                }
            }
        } else {
            let parts = localPath.components(separatedBy: "/snapshots/\(commit)/")
            files[parts.count == 2 ? parts[1] : URL(fileURLWithPath: localPath).lastPathComponent] = try recorder.hash(localPath)
        }
        return HubPin(spec: spec, commit: commit, files: files)
    }
}

/// The facts that decide which machine code computes a run's numbers: a replay is bit-identical
/// only where these are equal (the thread count is not among them: results do not depend on it).
public struct ExecutionFingerprint: Equatable, Sendable {
    /// OpenBLAS's kernel set after any switch ("SkylakeX", "Zen", "Cooperlake").
    public var blasCore: String
    /// oneDNN's ISA for bf16 products.
    public var bf16: String
    /// The CPU flags that select kernels (AVX-512 F/BF16/VNNI, AMX, FMA, AVX2).
    public var cpuFlags: String

    public static var current: ExecutionFingerprint {
        ExecutionFingerprint(blasCore: BLAS.coreName, bf16: BF16.backend, cpuFlags: cpuKernelFlags())
    }

    /// As stored in a run's environment (`env_json`).
    public var recorded: [String: String] { ["blas_core": blasCore, "bf16": bf16, "cpu_flags": cpuFlags] }

    /// From a recorded environment (nil when the run predates these keys).
    public init?(recorded e: [String: String]) {
        guard let b = e["blas_core"], let f = e["cpu_flags"] else { return nil }
        self.init(blasCore: b, bf16: e["bf16"] ?? "", cpuFlags: f)
    }

    public init(blasCore: String, bf16: String, cpuFlags: String) {
        self.blasCore = blasCore; self.bf16 = bf16; self.cpuFlags = cpuFlags
    }

    /// What differs from `other`, as "field: a → b" phrases (empty when equal).
    public func differences(from other: ExecutionFingerprint) -> [String] {
        var out: [String] = []
        if blasCore != other.blasCore { out.append("OpenBLAS kernels \(other.blasCore) → \(blasCore)") }
        if bf16 != other.bf16 { out.append("bf16 backend \(other.bf16) → \(bf16)") }
        if cpuFlags != other.cpuFlags { out.append("CPU kernel flags \(other.cpuFlags) → \(cpuFlags)") }
        return out
    }

    static func cpuKernelFlags() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return "unknown" }
        let have = Set(line.split(separator: " ").map(String.init))
        let relevant = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "avx_vnni"]
        return relevant.filter(have.contains).joined(separator: ",")
    }
}

/// The version this binary reports (`--version`) and records with every run.
public enum TuneLabVersion {
    public static let current = "0.3.0"
}

/// HEAD of the git repository holding `dir`, with "+dirty" when it has changes (nil if none).
func gitCommit(in dir: String) -> String? {
    func git(_ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir] + args
        let out = Pipe()
        p.standardOutput = out; p.standardError = Pipe()
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    guard let head = git(["rev-parse", "HEAD"]), !head.isEmpty else { return nil }
    let dirty = git(["status", "--porcelain", "--untracked-files=no"]).map { !$0.isEmpty } ?? false
    return head + (dirty ? "+dirty" : "")
}
