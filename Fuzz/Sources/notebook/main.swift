import FuzzSupport
import Notebook

/// A notebook file (Markdown with TOML cells): read from disk (UTF-8 check), parsed, every cell
/// resolved against the schema; every line also typed at the REPL as a cell.
func fuzzNotebook(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write(UnsafeRawBufferPointer(start: data, count: size), "notebook.md")
    if let nb = try? Notebook(path: path) {
        for cell in nb.cells { _ = try? cell.resolve() }
    }
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    for (i, line) in text.split(separator: "\n").prefix(64).enumerated() {
        _ = try? parseTypedCell(String(line), index: i + 1)
    }
    return 0
}

runFuzzer(fuzzNotebook)
