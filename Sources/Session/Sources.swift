import Foundation
import Hub
import Transformer

/// Loads a model by spec: "default", a .gguf file, an HF model folder, or `hf:org/name`
/// (downloaded into the hub cache first; offline with a cached copy works, offline without one
/// fails with a message saying so).
public func loadLanguageModel(_ spec: String) throws -> LanguageModel {
    let path = try HubClient().resolveModel(spec)
    return try LanguageModel.load(path)
}

/// A data spec: a local path, or `hf:org/name/file.json` from a hub dataset repo.
public func resolveDataPath(_ spec: String) throws -> String {
    try HubClient().resolveDataset(spec)
}
