/// A tokenizer file that cannot be used: the message names the file and the key or offset.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) {
        self.description = description
    }

    static func file(_ path: String, _ message: String) -> TokenizerError {
        TokenizerError("\(path): \(message)")
    }
}
