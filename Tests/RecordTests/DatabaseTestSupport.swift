import Foundation
import Testing
@testable import Record

/// Every test that opens SQLite lives under this serialized suite: the crash-safety test
/// forks, and a fork while another thread is inside SQLite could leave the child stuck.
@Suite(.serialized) enum DatabaseTests {}

/// A fresh folder for one test's database files, removed on deinit.
final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("record-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}
