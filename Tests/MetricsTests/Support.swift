import Foundation
import Kernels
import Metrics

enum Paths {
    static let root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func shared(_ name: String) -> String { root.deletingLastPathComponent().appendingPathComponent("shared/data/\(name)").path }
    static let fixture = root.appendingPathComponent("Tests/Fixtures/metrics/parity.json")
    static let jieba = root.appendingPathComponent("models/jieba")
}

/// The segmenter from the checkout's models/jieba (scripts/setup.sh), loaded once.
let testJieba: Jieba = {
    do { return try JiebaData.load(from: Paths.jieba) } catch { fatalError("\(error) — run bash scripts/setup.sh") }
}()

/// Tests/Fixtures/metrics/parity.json (scripts/make_metrics_references.py).
let parityFixture: [String: Any] = {
    let data = try! Data(contentsOf: Paths.fixture)
    return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
}()

/// Rows of a ../shared/data file (JSON array or JSONL), parsed once.
private let sharedRowsLock = NSLock()
nonisolated(unsafe) private var sharedRowsCache: [String: [Any]] = [:]
func sharedRows(_ name: String) throws -> [Any] {
    sharedRowsLock.lock(); defer { sharedRowsLock.unlock() }
    if let rows = sharedRowsCache[name] { return rows }
    let data = try Data(contentsOf: URL(fileURLWithPath: Paths.shared(name)))
    let rows: [Any]
    if name.hasSuffix(".jsonl") {
        rows = try data.split(separator: 0x0A).filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x0D } }
            .map { try JSONSerialization.jsonObject(with: Data($0)) }
    } else {
        rows = try JSONSerialization.jsonObject(with: data) as! [Any]
    }
    sharedRowsCache[name] = rows
    return rows
}

/// `field(row, "a.0.b")` of the reference script: dict keys and list indices.
func field(_ row: Any, _ path: String) -> String {
    var v: Any = row
    for part in path.split(separator: ".") {
        if let list = v as? [Any] { v = list[Int(part)!] } else { v = (v as! [String: Any])[String(part)]! }
    }
    return v as! String
}

/// A pair side of the fixture: verbatim text, or rebuilt from its recipe (file, row, field, transform, n).
func text(of side: [String: Any]) throws -> String {
    if let t = side["text"] as? String { return t }
    let rows = try sharedRows(side["file"] as! String)
    let s = Array(field(rows[side["row"] as! Int], side["field"] as! String).unicodeScalars)
    let n = side["n"] as! Int
    let out: [Unicode.Scalar]
    switch side["transform"] as! String {
    case "none": out = s
    case "prefix": out = Array(s.prefix(n))
    case "rotate": out = Array(s[min(n, s.count)...] + s[..<min(n, s.count)])
    default: fatalError("unknown transform")
    }
    var v = String.UnicodeScalarView()
    v.append(contentsOf: out)
    return String(v)
}

func sha256Hex(_ s: String) -> String {
    var h = SHA256()
    h.update(Array(s.utf8))
    return h.hexDigest()
}

/// The fixture's token-list digest: each token's UTF-8 bytes followed by 0xFF.
func tokensSHA256(_ tokens: [String]) -> String {
    var h = SHA256()
    for t in tokens { h.update(Array(t.utf8)); h.update([0xFF]) }
    return h.hexDigest()
}
