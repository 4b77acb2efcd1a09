/// Any problem reading or writing a model file. The message names the file and what was wrong
/// (byte offset, tensor or key where known).
public struct ModelFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public let offset: Int?

    public init(_ path: String, _ message: String, offset: Int? = nil) {
        self.path = path
        self.message = message
        self.offset = offset
    }

    public var description: String {
        if let offset { return "\(path): \(message) (at byte \(offset))" }
        return "\(path): \(message)"
    }
}
