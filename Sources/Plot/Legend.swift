/// Legend text for overlaid runs: each run is named by only the parameters whose values differ
/// between runs, sorted by key ("lr=1e-4, r=16"). A key a run lacks shows as "key=-". With a
/// single run, or when nothing differs, the run names are used; runs whose parameter labels
/// coincide get their name appended so every label is distinct.
public func legendLabels(params: [[String: String]], names: [String]) -> [String] {
    let n = max(params.count, names.count)
    func name(_ i: Int) -> String { i < names.count ? names[i] : "run \(i + 1)" }
    guard params.count == n, n > 1 else { return (0..<n).map(name) }

    let keys = Set(params.flatMap(\.keys)).sorted()
    let differing = keys.filter { k in Set(params.map { $0[k] ?? "\u{0}" }).count > 1 }
    guard !differing.isEmpty else { return (0..<n).map(name) }

    var labels = params.map { p in
        differing.map { k in "\(k)=\(shorten(p[k] ?? "-"))" }.joined(separator: ", ")
    }
    var seen: [String: Int] = [:]
    for l in labels { seen[l, default: 0] += 1 }
    for i in labels.indices where seen[labels[i], default: 0] > 1 { labels[i] += " (\(name(i)))" }
    return labels
}

/// Long values (paths, prompts) cut in the middle so both ends stay readable.
private func shorten(_ v: String, limit: Int = 28) -> String {
    guard v.count > limit else { return v }
    let keep = (limit - 3) / 2
    return String(v.prefix(keep)) + "..." + String(v.suffix(limit - 3 - keep))
}
