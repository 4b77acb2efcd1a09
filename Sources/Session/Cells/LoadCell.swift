import Foundation
import Hub
import Kernels
import Notebook
import Transformer

/// `load`: the base model and the worker-thread count.
final class LoadCell: SessionCell {
    let model: String
    let threads: Int
    /// The model's local path, resolved (downloaded for `hf:`) when its inputs are recorded.
    private var path: String?

    init(_ p: ResolvedParams) throws {
        model = p.string("model")
        if model.isEmpty { throw p.error("model", "empty: give 'default', a .gguf file, a model folder or hf:org/name") }
        _ = try HubClient.parseChecked(model).map { _ in () }
        let t = p.int("threads")
        threads = t > 0 ? t : ProcessInfo.processInfo.activeProcessorCount
    }

    func localPath() throws -> String {
        if let path { return path }
        let p = try ModelLocator.resolve(try HubClient().resolveModel(model))
        path = p
        return p
    }

    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] {
        let p = try localPath()
        if let pin = try HubPin.make(model, localPath: p, recorder: recorder) { return [.hub(pin)] }
        return [.file(p)]
    }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        BLAS.setThreads(threads)
        // What ran: the thread count (and kernel set) are known now, not when the run began.
        try ctx.recorder.refreshEnvironment()
        let path = try localPath()
        let lm = try LanguageModel.load(path)
        state.model = lm; state.modelSpec = model; state.modelPath = path
        state.data = nil; state.adapter = nil; state.adapterPath = nil
        let c = lm.config
        return CellResult(summary: "\(URL(fileURLWithPath: lm.path).lastPathComponent): \(c.architecture), \(c.numLayers) layers, hidden \(c.hiddenSize), vocab \(c.vocabSize), \(String(format: "%.0f", Double(lm.weights.weightBytes) / 1e6)) MB of weights, \(threads) threads")
    }
}
