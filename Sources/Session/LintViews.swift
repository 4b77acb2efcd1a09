import Foundation
import Dataset
import Plot
import Tokenization

/// The token-length histogram of a lint report as a PNG: one outline per split, bins of equal
/// width, a dashed-free vertical marker at max_seq_length drawn as its own series.
public func plotLengthHistogram(_ report: LintReport, path: String, title: String) throws {
    let all = report.lengths.values.flatMap { $0 }
    guard let hi = all.max(), hi > 0 else { return }
    let bins = 40
    let width = max(1, (hi + bins - 1) / bins)
    var series: [Series] = []
    for split in ["train", "validation"] {
        guard let lengths = report.lengths[split], !lengths.isEmpty else { continue }
        var counts = [Int](repeating: 0, count: bins + 1)
        for l in lengths { counts[min(bins, l / width)] += 1 }
        // A step outline: each bin is a flat segment from its left to its right edge.
        var pts: [(x: Double, y: Double)] = []
        for (i, c) in counts.enumerated() {
            pts.append((Double(i * width), Double(c)))
            pts.append((Double((i + 1) * width), Double(c)))
        }
        series.append(Series(name: "\(split) (\(lengths.count) rows)", points: pts))
    }
    if let m = report.maxSeqLength {
        let top = Double(series.flatMap { $0.points.map(\.y) }.max() ?? 1)
        series.append(Series(name: "max_seq_length \(m)", points: [(Double(m), 0), (Double(m), top)], color: Color(r: 200, g: 40, b: 40)))
    }
    let img = renderLineChart(series: series, options: ChartOptions(title: title, xLabel: "tokens per example", yLabel: "rows"))
    try img.writePNG(path: path)
}

/// One row's tokens marked by whether they carry loss: on a terminal the trained ones green and
/// the rest dim; otherwise trained spans are wrapped in ⟦ ⟧. Newlines and spaces are shown as
/// they decode; the EOS is named.
public func showRowTokens(_ r: RowInspection, tokenizer: Tokenizer, color: Bool) -> String {
    var out = "", inTrained = false
    // Streamed: a character split over two tokens (CJK, emoji) comes out whole with the second.
    let stream = tokenizer.makeStreamDecoder(skipSpecialTokens: false)
    for (i, id) in r.ids.enumerated() {
        let trained = r.labels[i] != ignoreLabel
        var piece = id == tokenizer.eosTokenId ? "" : stream.push(id)
        if id == tokenizer.eosTokenId { piece = "<EOS:\(tokenizer.token(id) ?? "\(id)")>" }
        if color {
            out += (trained ? "\u{1B}[32m" : "\u{1B}[2m") + piece + "\u{1B}[0m"
        } else {
            if trained && !inTrained { out += "⟦" }
            if !trained && inTrained { out += "⟧" }
            out += piece
        }
        inTrained = trained
    }
    if !color && inTrained { out += "⟧" }
    var legend = "row \(r.row): \(r.ids.count) tokens (\(r.promptTokens) prompt, \(r.trainedTokens) trained)"
    if r.truncated { legend += ", truncated (\(r.promptTokens + r.responseTokens) before)" }
    legend += r.eosTrained ? ", EOS trained" : ", EOS NOT trained"
    legend += color ? " — green: carries loss" : " — ⟦…⟧: carries loss"
    return legend + "\n" + out
}
