import Foundation
import Notebook
import Training
import Transformer

/// What the cells of one session build on, in order: the model (`load`), the prepared data
/// (`format`), the adapter (`train`). One per recorded run.
public final class SessionState {
    public let notebook: Notebook?
    /// Progress lines and streamed generations off (tests; replays print their own verdict).
    public var quiet = false
    /// Print each prompt before its streamed answer (off for `tunelab generate`, whose stdout
    /// is the continuation alone).
    public var echoPrompts = true
    /// Set by `tunelab branch`: the next train cell's `resume` may change settings.
    var branching = false

    var model: LanguageModel?
    /// The model as the load cell named it (`default`, a path, `hf:org/name`).
    var modelSpec = ""
    /// The resolved local path of the model (file or folder), for adapters' `base_model_name_or_path`.
    var modelPath = ""
    var data: PreparedData?
    var adapter: LoRAAdapter?
    var adapterPath: String?

    public init(notebook: Notebook?) { self.notebook = notebook }

    public var loadedModel: LanguageModel? { model }
    public var preparedData: PreparedData? { data }

    func requireModel() throws -> LanguageModel {
        guard let model else { throw SessionError("no model loaded: run a load cell first") }
        return model
    }

    func requireData(for kind: CellKind) throws -> PreparedData {
        guard let data else { throw SessionError("\(kind.rawValue): no data: run a format cell first") }
        return data
    }

    /// A relative input path (data, template, adapter, checkpoint) as the user means it: from the
    /// working directory when it is there; else from the nearest folder above the notebook that
    /// has it (notebooks in a checkout name files from its root, `notebooks/data/…`); else from
    /// the checkout this `tunelab` was built in (so defaults such as the sample data and the
    /// medical-cot template work from any folder). Outputs stay relative to the working directory.
    func inputPath(_ path: String) -> String {
        InputPaths.resolve(path, notebook: notebook?.path)
    }
}

/// Where relative input paths are looked for (see `SessionState.inputPath`).
public enum InputPaths {
    public static func resolve(_ path: String, notebook: String?) -> String {
        let fm = FileManager.default
        guard !path.isEmpty, !path.hasPrefix("/"), !path.hasPrefix("hf:"), !fm.fileExists(atPath: path) else { return path }
        var starts: [URL] = []
        if let notebook { starts.append(URL(fileURLWithPath: notebook).deletingLastPathComponent()) }
        if let exe = executableDirectory { starts.append(exe) }
        for start in starts {
            var dir = start.standardizedFileURL
            while true {
                let candidate = dir.appendingPathComponent(path).path
                if fm.fileExists(atPath: candidate) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return path
    }

    /// The folder of the running binary with symlinks resolved (`/usr/local/bin/tunelab` →
    /// `<checkout>/.build/release`).
    static let executableDirectory: URL? = {
        guard let exe = Bundle.main.executablePath else { return nil }
        return URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
    }()
}
