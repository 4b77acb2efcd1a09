import Foundation
import FuzzSupport
@testable import Hub

/// What the hub sends back: the first line is a header value (Content-Range, ETag), the rest a
/// body (revision info, error JSON, a model.safetensors.index.json). File names from the server
/// go through the same check as before any download.
func fuzzHubResponse(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let newline = input.firstIndex(of: 10) ?? input.count
    let header = String(decoding: input[..<newline], as: UTF8.self)
    let body = Data(input[min(newline + 1, input.count)...])
    _ = HTTPTransfer.contentRangeStart(header)
    _ = HTTPTransfer.contentRangeTotal(header)
    _ = HubClient.sha256FromETag(header)
    _ = HubClient.isCommitHash(header)
    _ = HubClient.serverMessage(body)
    if let info = try? HubClient.parseRepoInfo(body, url: "https://hub.invalid/api/models/a/b/revision/main") {
        for f in info.files {
            _ = HubClient.isJSONData(f)
            _ = try? HubClient.checkFile(f)
        }
    }
    if let shards = try? HubClient.shardNames(index: body, path: "model.safetensors.index.json") {
        for s in shards { _ = try? HubClient.checkFile(s) }
    }
    _ = try? HubClient.parseChecked(header)
    return 0
}

runFuzzer(fuzzHubResponse)
