// One blocking HTTP GET over URLSession: either into memory (API JSON) or streamed into a
// `.part` file that is hashed as it arrives and may be resumed with a Range request.
import Kernels
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What came back, after redirects.
struct HTTPReply {
    var status: Int
    /// Final response headers, lower-cased names.
    var headers: [String: String]
    /// Headers of the redirect responses on the way (the hub puts X-Linked-Etag / X-Linked-Size
    /// on its 302 to the CDN, not on the CDN's 200).
    var redirectHeaders: [[String: String]]
    var finalURL: URL?
    /// Memory mode: the body. File mode: only an error body (status >= 300), for messages.
    var body: Data
    /// File mode: bytes in the `.part` file when done, and its sha256 when the whole file was hashed.
    var fileSize: Int64 = 0
    var sha256: String?
    /// File mode: the server answered a Range request with 206 and we appended.
    var resumed = false

    /// A header from the final response, or else from the last redirect that had it.
    func header(_ name: String) -> String? {
        if let v = headers[name] { return v }
        for h in redirectHeaders.reversed() { if let v = h[name] { return v } }
        return nil
    }
}

/// Transport-level failure (no HTTP status): connection refused, DNS, TLS, timeouts, local disk.
enum TransferFailure: Error {
    case network(reason: String, unreachable: Bool)
    case disk(path: String, reason: String)
}

final class HTTPTransfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct FileSink {
        var path: String            // the `.part` file
        var resumeFrom: Int64       // bytes already there (Range request sent when > 0)
        var label: String           // for progress lines
        var showProgress: Bool
    }

    private let originalHost: String?
    private let fileSink: FileSink?
    private let done = DispatchSemaphore(value: 0)

    // Touched only on the session's serial delegate queue until `done` is signalled.
    private var reply = HTTPReply(status: 0, headers: [:], redirectHeaders: [], finalURL: nil, body: Data())
    private var failure: TransferFailure?
    private var handle: FileHandle?
    private var hasher: SHA256?
    private var written: Int64 = 0
    private var started = Date()
    private var lastProgress = Date.distantPast
    private var sessionStartBytes: Int64 = 0

    private init(originalHost: String?, fileSink: FileSink?) {
        self.originalHost = originalHost
        self.fileSink = fileSink
    }

    /// Performs the GET; throws only `TransferFailure`. HTTP error statuses come back in the reply.
    static func get(_ url: URL, headers: [String: String], into sink: FileSink? = nil, timeout: TimeInterval = 30) throws -> HTTPReply {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.httpMethod = "GET"
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        if let sink, sink.resumeFrom > 0 { request.setValue("bytes=\(sink.resumeFrom)-", forHTTPHeaderField: "Range") }

        let transfer = HTTPTransfer(originalHost: url.host, fileSink: sink)
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout          // inactivity, not total time
        config.timeoutIntervalForResource = 7 * 24 * 3600
        config.urlCache = nil
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: config, delegate: transfer, delegateQueue: queue)
        let task = session.dataTask(with: request)
        task.resume()
        transfer.done.wait()
        session.finishTasksAndInvalidate()
        if let failure = transfer.failure { throw failure }
        return transfer.reply
    }

    // MARK: URLSessionDataDelegate

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        reply.redirectHeaders.append(Self.lowercasedHeaders(response))
        var next = request
        // Never hand the hub token to another host (the LFS CDN URLs are pre-signed).
        if request.url?.host != originalHost { next.setValue(nil, forHTTPHeaderField: "Authorization") }
        completionHandler(next)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let http = response as? HTTPURLResponse else {
            failure = .network(reason: "not an HTTP response", unreachable: false)
            completionHandler(.cancel)
            return
        }
        reply.status = http.statusCode
        reply.headers = Self.lowercasedHeaders(http)
        reply.finalURL = http.url
        guard let sink = fileSink, http.statusCode == 200 || http.statusCode == 206 else {
            completionHandler(.allow)
            return
        }
        do {
            let fm = FileManager.default
            if http.statusCode == 206 {
                // Resume only if the server starts exactly where our part file ends.
                guard sink.resumeFrom > 0, let start = Self.contentRangeStart(reply.headers["content-range"]),
                      start == sink.resumeFrom else {
                    failure = .network(reason: "server answered the resume request with Content-Range '\(reply.headers["content-range"] ?? "")' for \(sink.resumeFrom) bytes on disk", unreachable: false)
                    try? fm.removeItem(atPath: sink.path)   // next run starts over
                    completionHandler(.cancel)
                    return
                }
                let h = try FileHandle(forUpdating: URL(fileURLWithPath: sink.path))
                var hasher = SHA256()
                // Hash what is already on disk so the digest covers the whole file.
                while let chunk = try h.read(upToCount: 4 << 20), !chunk.isEmpty {
                    chunk.withUnsafeBytes { hasher.update($0) }
                }
                let size = try h.seekToEnd()
                guard Int64(size) == sink.resumeFrom else {
                    throw TransferFailure.disk(path: sink.path, reason: "partial file changed size while resuming")
                }
                handle = h
                self.hasher = hasher
                written = sink.resumeFrom
                reply.resumed = true
            } else {
                // 200: a fresh start (or the server ignored our Range header).
                if !fm.createFile(atPath: sink.path, contents: nil) {
                    throw TransferFailure.disk(path: sink.path, reason: String(cString: strerror(errno)))
                }
                handle = try FileHandle(forWritingTo: URL(fileURLWithPath: sink.path))
                hasher = SHA256()
                written = 0
            }
            sessionStartBytes = written
            started = Date()
            completionHandler(.allow)
        } catch let e as TransferFailure {
            failure = e
            completionHandler(.cancel)
        } catch {
            failure = .disk(path: sink.path, reason: "\(error.localizedDescription)")
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard failure == nil else { return }
        guard let handle else {
            if reply.body.count < 1 << 20 { reply.body.append(data) }   // API JSON or an error body
            return
        }
        do {
            try handle.write(contentsOf: data)
        } catch {
            failure = .disk(path: fileSink?.path ?? "?", reason: error.localizedDescription)
            dataTask.cancel()
            return
        }
        data.withUnsafeBytes { hasher?.update($0) }
        written += Int64(data.count)
        if let sink = fileSink, sink.showProgress {
            let now = Date()
            if now.timeIntervalSince(lastProgress) >= 0.25 {
                lastProgress = now
                printProgress(sink, final: false)
            }
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if let handle {
            do { try handle.synchronize(); try handle.close() } catch {
                if failure == nil { failure = .disk(path: fileSink?.path ?? "?", reason: error.localizedDescription) }
            }
            reply.fileSize = written
            if error == nil, failure == nil { reply.sha256 = hasher?.finalizeHex() }
            if let sink = fileSink, sink.showProgress { printProgress(sink, final: true) }
        }
        if failure == nil, let error {
            failure = Self.classify(error)
        }
        done.signal()
    }

    // MARK: helpers

    private func printProgress(_ sink: FileSink, final: Bool) {
        let mb = Double(written) / 1_000_000
        let seconds = max(Date().timeIntervalSince(started), 1e-3)
        let rate = Double(written - sessionStartBytes) / 1_000_000 / seconds
        var total = ""
        if let len = reply.headers["content-length"].flatMap(Int64.init) {
            total = String(format: " / %.1f", Double(len + (reply.resumed ? sink.resumeFrom : 0)) / 1_000_000)
        }
        let line = String(format: "\r%@: %.1f%@ MB  %.1f MB/s", sink.label, mb, total, rate) + (final ? "\n" : "")
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func lowercasedHeaders(_ r: HTTPURLResponse) -> [String: String] {
        var h: [String: String] = [:]
        for (k, v) in r.allHeaderFields {
            if let k = k as? String, let v = v as? String { h[k.lowercased()] = v }
        }
        return h
    }

    /// `bytes 100-199/200` → 100.
    static func contentRangeStart(_ value: String?) -> Int64? {
        guard let value, let r = value.range(of: "bytes ") else { return nil }
        let spec = value[r.upperBound...]
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        return Int64(spec[..<dash].trimmingCharacters(in: .whitespaces))
    }

    /// `bytes 100-199/200` → 200 (nil for `*`).
    static func contentRangeTotal(_ value: String?) -> Int64? {
        guard let value, let slash = value.lastIndex(of: "/") else { return nil }
        return Int64(value[value.index(after: slash)...].trimmingCharacters(in: .whitespaces))
    }

    /// Turns a URLSession error into a short reason, and whether it means "cannot reach the host".
    static func classify(_ error: Error) -> TransferFailure {
        let ns = error as NSError
        if ns.domain == NSURLErrorDomain {
            switch ns.code {
            case NSURLErrorCannotConnectToHost: return .network(reason: "connection refused", unreachable: true)
            case NSURLErrorCannotFindHost, NSURLErrorDNSLookupFailed: return .network(reason: "host name not found", unreachable: true)
            case NSURLErrorNotConnectedToInternet: return .network(reason: "no network connection", unreachable: true)
            case NSURLErrorTimedOut: return .network(reason: "timed out", unreachable: true)
            case NSURLErrorNetworkConnectionLost: return .network(reason: "connection lost", unreachable: false)
            case NSURLErrorSecureConnectionFailed, NSURLErrorServerCertificateUntrusted,
                 NSURLErrorServerCertificateHasBadDate, NSURLErrorServerCertificateHasUnknownRoot,
                 NSURLErrorServerCertificateNotYetValid:
                return .network(reason: "TLS handshake failed (\(ns.localizedDescription)); on Debian, is the ca-certificates package installed?", unreachable: true)
            default: break
            }
        }
        return .network(reason: ns.localizedDescription, unreachable: false)
    }
}
