import Foundation
import Kernels

// How training output reaches the disk. Every file and folder a later step relies on
// (checkpoints, adapters, metrics.jsonl) is written so that a crash at any instant leaves
// either the old version or the new one, never part of one, and every failure (a full disk,
// EFBIG under `ulimit -f`, a read-only place) is an error naming the file and what was written.

/// "No space left on device" for the current errno.
func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Writes all of `bytes` to `fd`; `pauseHalfway` pauses at that point after half of them
/// (the crash trials' mid-file kill).
private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String, what: String,
                      pauseHalfway: StaticString? = nil) throws {
    var done = 0
    let half = bytes.count / 2
    while done < bytes.count {
        let end = pauseHalfway != nil && done < half ? half : bytes.count
        let n = write(fd, bytes.baseAddress! + done, end - done)
        if n < 0 {
            if errno == EINTR { continue }
            throw TrainError("\(path): cannot write \(what): \(errnoText())")
        }
        done += n
        if done == half, let p = pauseHalfway { PausePoint.reached(p) }
    }
}

/// fsync of a folder, so the names created or renamed in it survive a power cut.
func syncDirectory(_ path: String) throws {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw TrainError("\(path): cannot open the folder to sync it: \(errnoText())") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw TrainError("\(path): cannot sync the folder: \(errnoText())") }
}

/// Replaces `path` by a file holding `bytes`: written to a temporary sibling, synced, renamed.
/// `what` says in errors what the file is (e.g. "the optimiser moments of checkpoint-20").
func writeFileAtomically(path: String, bytes: [UInt8], what: String = "the file", pauseHalfway: StaticString? = nil) throws {
    let url = URL(fileURLWithPath: path)
    let temp = url.deletingLastPathComponent()
        .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
    let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw TrainError("\(path): cannot create \(what) (as \(temp)): \(errnoText())") }
    var ok = false
    defer { if !ok { unlink(temp) } }
    do {
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path, what: what, pauseHalfway: pauseHalfway) }
        guard fsync(fd) == 0 else { throw TrainError("\(path): cannot sync \(what): \(errnoText())") }
    }
    guard rename(temp, path) == 0 else {
        throw TrainError("\(path): cannot rename \(temp) into place: \(errnoText())")
    }
    ok = true
}

/// Appends `text` to `path` (created if missing) with one write; `what` names it in errors.
func appendToFile(path: String, _ text: String, what: String) throws {
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw TrainError("\(path): cannot open for appending \(what): \(errnoText())") }
    defer { close(fd) }
    let start = lseek(fd, 0, SEEK_END)
    do {
        try Array(text.utf8).withUnsafeBytes { try writeAll(fd, $0, path: path, what: what) }
    } catch {
        // A line cut short by a full disk is taken back, so the file stays whole lines.
        if start >= 0 { _ = ftruncate(fd, start) }
        throw error
    }
}

/// Replaces folder `path` by a complete new one: everything is written into a hidden temp
/// sibling (`.<name>.tmp-<pid>`), its files and the folder synced, then renamed into place and
/// the parent synced. A crash leaves the old folder or the new one, never half of one; the
/// temp folder a crash leaves behind is removed by `prepareOutputFolder`. On failure (a full
/// disk) the temp folder is removed and the error says which file of which folder failed.
func writeFolderAtomically(_ path: String, _ fill: (String) throws -> Void) throws {
    let fm = FileManager.default
    let url = URL(fileURLWithPath: path)
    let parent = url.deletingLastPathComponent().path
    do { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
        throw TrainError("\(parent): cannot create the folder for \(url.lastPathComponent): \(error.localizedDescription)")
    }
    let temp = parent + "/.\(url.lastPathComponent).tmp-\(getpid())"
    try? fm.removeItem(atPath: temp)
    guard mkdir(temp, 0o755) == 0 else { throw TrainError("\(temp): cannot create the folder for \(path): \(errnoText())") }
    do {
        try fill(temp)
        for name in try fm.contentsOfDirectory(atPath: temp) {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: temp + "/" + name, isDirectory: &isDir), isDir.boolValue { try syncDirectory(temp + "/" + name) }
        }
        try syncDirectory(temp)
    } catch {
        try? fm.removeItem(atPath: temp)
        throw TrainError("writing \(path) failed, nothing of it kept: \(error)")
    }
    PausePoint.reached("checkpoint-rename")
    let old = parent + "/.\(url.lastPathComponent).old-\(getpid())"
    if fm.fileExists(atPath: path) {
        guard rename(path, old) == 0 else {
            try? fm.removeItem(atPath: temp)
            throw TrainError("\(path): cannot move the old folder aside: \(errnoText())")
        }
    }
    guard rename(temp, path) == 0 else {
        let why = errnoText()
        _ = rename(old, path)
        throw TrainError("\(path): cannot move the new folder into place: \(why)")
    }
    try syncDirectory(parent)
    try? fm.removeItem(atPath: old)
}

/// Makes `out` ready before training starts: creates it, proves it writable by creating,
/// syncing and removing a file there (a read-only folder or file system is refused here, not
/// after the first step), and tidies what a crashed writer left: `.<name>.tmp-<pid>` folders and
/// files of processes that are gone are removed; a `.<name>.old-<pid>` whose new folder never
/// arrived is put back as `<name>`.
public func prepareOutputFolder(_ out: String) throws {
    let fm = FileManager.default
    do { try fm.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
        throw TrainError("\(out): cannot create the output folder: \(error.localizedDescription)")
    }
    let probe = out + "/.tunelab-write-test-\(getpid())"
    let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw TrainError("\(out): the output folder is not writable: \(errnoText()); choose another with --out (train.out)") }
    let wrote = write(fd, "x", 1) == 1 && fsync(fd) == 0
    let why = errnoText()
    close(fd)
    unlink(probe)
    guard wrote else { throw TrainError("\(out): cannot write in the output folder: \(why)") }

    for name in (try? fm.contentsOfDirectory(atPath: out)) ?? [] where name.hasPrefix(".") {
        for marker in [".tmp-", ".old-"] {
            guard let r = name.range(of: marker, options: .backwards) else { continue }
            let pidText = name[r.upperBound...].prefix { $0.isNumber }
            guard let pid = Int32(pidText), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            let full = out + "/" + name
            if marker == ".old-" {
                let original = out + "/" + String(name[name.index(after: name.startIndex)..<r.lowerBound])
                if !fm.fileExists(atPath: original), rename(full, original) == 0 { continue }
            }
            try? fm.removeItem(atPath: full)
        }
    }
}

/// Why `path` is not a checkpoint TuneLab wrote to completion (nil when it is one): the hidden
/// temp folders a crash leaves behind are never taken for checkpoints, even when all their files
/// happen to be there, because only the final rename marks a checkpoint complete.
public func incompleteCheckpointReason(_ path: String) -> String? {
    let name = URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
    if name.hasPrefix("."), name.contains(".tmp-") || name.contains(".old-") {
        return "\(path): an unfinished checkpoint left by an interrupted write, not a checkpoint; resume from the newest checkpoint-N beside it"
    }
    return nil
}

/// Why training output cannot go to `out` (nil when it can, as far as can be told without
/// writing): the folder, or the nearest existing folder above it, is not writable (permissions,
/// a read-only file system) or is not a folder. Checked when a cell is built, before the model
/// loads; `prepareOutputFolder` proves it by writing before the first step.
public func outputFolderProblem(_ out: String) -> String? {
    var dir = URL(fileURLWithPath: out).standardizedFileURL
    var isDir: ObjCBool = false
    while !FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) {
        let up = dir.deletingLastPathComponent()
        if up.path == dir.path { break }
        dir = up
    }
    guard isDir.boolValue else { return "\(out): \(dir.path) is a file, not a folder" }
    guard access(dir.path, W_OK | X_OK) == 0 else {
        let why = errnoText()
        return dir.path == URL(fileURLWithPath: out).standardizedFileURL.path
            ? "\(out): the output folder is not writable (\(why))"
            : "\(out): cannot create the output folder: \(dir.path) is not writable (\(why))"
    }
    return nil
}
