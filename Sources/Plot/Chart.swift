import Foundation

/// One curve: a run's metric against step.
public struct Series: Sendable {
    /// Legend text (see `legendLabels`); empty names are left out of the legend.
    public var name: String
    /// Non-finite points (and non-positive y on a log axis) are skipped and break the line.
    public var points: [(x: Double, y: Double)]
    /// nil: the palette colour for the series' position.
    public var color: Color?
    /// Sparse measurements (eval loss every N steps): each point is drawn as a dot on the line
    /// through the raw values, and the series is never smoothed (a moving average of a few
    /// points would hide them).
    public var markers: Bool

    public init(name: String, points: [(x: Double, y: Double)], color: Color? = nil, markers: Bool = false) {
        self.name = name
        self.points = points
        self.color = color
        self.markers = markers
    }

    /// From `ExperimentDB.metrics(runID:name:)` rows.
    public init(name: String, steps: [(step: Int, value: Double)], color: Color? = nil, markers: Bool = false) {
        self.init(name: name, points: steps.map { (x: Double($0.step), y: $0.value) }, color: color, markers: markers)
    }
}

public struct ChartOptions: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logY: Bool
    /// TensorBoard-style exponential smoothing weight in 0..<1 (0: off). When on, the raw
    /// curve is drawn faint behind the smoothed one.
    public var smoothing: Double
    public var width: Int
    public var height: Int

    public init(title: String = "", xLabel: String = "step", yLabel: String = "", logY: Bool = false,
                smoothing: Double = 0, width: Int = 1000, height: Int = 600) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logY = logY
        self.smoothing = smoothing
        self.width = width
        self.height = height
    }
}

/// TensorBoard's debiased exponential moving average (weight `w`), skipping non-finite values
/// (they stay as they are, so they still break the line).
func smooth(_ ys: [Double], weight w: Double) -> [Double] {
    guard w > 0 else { return ys }
    var last = 0.0, n = 0.0
    return ys.map { y in
        guard y.isFinite else { return y }
        last = last * w + (1 - w) * y
        n += 1
        let debias = 1 - pow(w, n)
        return debias > 0 ? last / debias : y
    }
}

/// Draws series as an anti-aliased line chart with axes, 1-2-5 (or decade) ticks, labels,
/// title and a legend placed in the plot corner with the least data under it.
public func renderLineChart(series: [Series], options: ChartOptions) -> Image {
    let W = min(8192, max(200, options.width)), H = min(8192, max(150, options.height))
    var img = Image(width: W, height: H, fill: .white)
    let s = min(W, H) >= 480 ? 2 : 1  // text scale: 5×9 glyphs are too small on big charts
    let ts = s + 1                     // title scale
    let textH = Font.height(scale: s), cap = Font.ascent * s
    let ink = Color(r: 38, g: 38, b: 38), axisInk = Color(r: 90, g: 90, b: 90)
    let grid = Color(r: 226, g: 226, b: 226), minorGrid = Color(r: 242, g: 242, b: 242)
    let pad = 6 * s, tickLen = 3 * s, gap = 3 * s
    let weight = options.smoothing.isFinite ? min(0.999, max(0, options.smoothing)) : 0

    // Curves in data space: the raw points plus, when smoothing, the smoothed ones.
    let raw = series.map(\.points)
    let smoothed: [[(x: Double, y: Double)]] = series.map { ser in
        let pts = ser.points
        let ys = smooth(pts.map(\.y), weight: ser.markers ? 0 : weight)
        return zip(pts, ys).map { (x: $0.x, y: $1) }
    }

    // Data ranges from every finite point the axes can show.
    let yProbe = Axis(log: options.logY, lo: 0, hi: 1)
    var xs: [Double] = [], ys: [Double] = []
    for pts in raw {
        for p in pts where p.x.isFinite {
            if let t = yProbe.transform(p.y) { xs.append(p.x); ys.append(t) }
        }
    }
    let hasData = !xs.isEmpty
    let integralX = xs.allSatisfy { $0 == $0.rounded() && abs($0) < 1e15 }
    let (xlo, xhi) = Ticks.range(xs, padding: 0, log: false)
    let (ylo, yhi) = Ticks.range(ys, padding: 0.04, log: options.logY)

    // Vertical layout first: the y ticks decide how wide the left margin must be.
    let titleText = fitted(options.title, maxWidth: W - 2 * pad, scale: ts)
    let titleH = titleText.isEmpty ? 0 : Font.height(scale: ts) + 2 * gap
    let top = pad + titleH + textH / 2
    let xLabelH = options.xLabel.isEmpty ? 0 : textH + gap
    let bottom = H - pad - xLabelH - textH - gap - tickLen
    let plotH = max(10, bottom - top)
    var yAxis = Axis(log: options.logY, lo: ylo, hi: yhi)
    let maxYTicks = max(2, plotH / (textH * 3))
    yAxis.ticks = options.logY ? Ticks.log(lo: ylo, hi: yhi, maxTicks: maxYTicks)
                               : Ticks.linear(lo: ylo, hi: yhi, maxTicks: maxYTicks)
    let yTickW = yAxis.ticks.compactMap { $0.label }.map { Font.width($0, scale: s) }.max() ?? 0
    let yLabelW = options.yLabel.isEmpty ? 0 : textH + 2 * gap
    let left = pad + yLabelW + yTickW + gap + tickLen
    var xAxis = Axis(log: false, lo: xlo, hi: xhi)
    let xLabelEstimate = max(Font.width(Ticks.format(xhi, step: 1), scale: s), Font.width(Ticks.format(xlo, step: 1), scale: s))
    let right = W - pad - xLabelEstimate / 2
    let plotW = max(10, right - left)
    let maxXTicks = max(2, plotW / (xLabelEstimate + 12 * s))
    xAxis.ticks = Ticks.linear(lo: xlo, hi: xhi, maxTicks: maxXTicks, minStep: integralX ? 1 : 0)

    // Data → pixel. An inset keeps strokes at the extremes from being clipped by the frame.
    let inset = Double(3 * s)
    let px0 = Double(left) + inset, pxSpan = Double(plotW) - 2 * inset
    let py0 = Double(top + plotH) - inset, pySpan = Double(plotH) - 2 * inset
    func toPixel(_ x: Double, _ y: Double) -> (Double, Double)? {
        guard let fx = xAxis.fraction(x), let fy = yAxis.fraction(y) else { return nil }
        return (px0 + fx * pxSpan, py0 - fy * pySpan)
    }

    // Grid.
    for t in yAxis.ticks {
        guard let (_, y) = toPixel(xlo, t.value) else { continue }
        img.fill(x: left, y: Int(y), width: plotW, height: 1, color: t.label == nil ? minorGrid : grid)
    }
    for t in xAxis.ticks {
        guard let (x, _) = toPixel(t.value, yAxis.log ? pow(10, ylo) : ylo) else { continue }
        img.fill(x: Int(x), y: top, width: 1, height: plotH, color: grid)
    }

    // Curves.
    let lineWidth = 1.5 + 0.75 * Double(s)
    var coverage = Coverage(x0: left + 1, y0: top + 1, width: plotW - 2, height: plotH - 2)
    var occupied = [Bool](repeating: false, count: coverage.width * coverage.height)
    func stroke(_ pts: [(x: Double, y: Double)], width: Double, color: Color) {
        var prev: (Double, Double)?
        var run = 0  // points in the current unbroken stretch
        var lonely: (Double, Double)?
        for p in pts {
            guard let q = toPixel(p.x, p.y) else {
                if run == 1, let l = lonely { coverage.dot(l.0, l.1, radius: width * 1.6) }
                prev = nil; run = 0; continue
            }
            if let a = prev { coverage.segment(a.0, a.1, q.0, q.1, lineWidth: width) } else { lonely = q }
            prev = q; run += 1
        }
        if run == 1, let l = lonely { coverage.dot(l.0, l.1, radius: width * 1.6) }
        coverage.composite(into: &img, color: color, occupied: &occupied)
    }
    let colors = series.indices.map { series[$0].color ?? Color.palette($0) }
    if weight > 0 {
        for (i, pts) in raw.enumerated() where !series[i].markers {
            var faint = colors[i]
            faint.a = UInt8(Double(faint.a) * 0.28)
            stroke(pts, width: lineWidth * 0.7, color: faint)
        }
    }
    for (i, pts) in smoothed.enumerated() { stroke(pts, width: lineWidth, color: colors[i]) }
    for (i, ser) in series.enumerated() where ser.markers {
        for p in ser.points { if let q = toPixel(p.x, p.y) { coverage.dot(q.0, q.1, radius: lineWidth * 1.8) } }
        coverage.composite(into: &img, color: colors[i], occupied: &occupied)
    }

    if !hasData {
        let msg = "no data"
        img.draw(text: msg, x: left + (plotW - Font.width(msg, scale: s)) / 2, y: top + (plotH - cap) / 2,
                 scale: s, color: axisInk)
    }

    // Frame, ticks and their labels.
    img.stroke(x: left, y: top, width: plotW, height: plotH, color: axisInk)
    for t in yAxis.ticks {
        guard let (_, yf) = toPixel(xlo, t.value) else { continue }
        let y = Int(yf)
        img.fill(x: left - tickLen, y: y, width: tickLen, height: 1, color: axisInk)
        if let label = t.label {
            img.draw(text: label, x: left - tickLen - gap - Font.width(label, scale: s), y: y - cap / 2,
                     scale: s, color: ink)
        }
    }
    for t in xAxis.ticks {
        guard let (xf, _) = toPixel(t.value, yAxis.log ? pow(10, ylo) : ylo) else { continue }
        let x = Int(xf)
        img.fill(x: x, y: top + plotH, width: 1, height: tickLen, color: axisInk)
        if let label = t.label {
            img.draw(text: label, x: x - Font.width(label, scale: s) / 2, y: top + plotH + tickLen + gap,
                     scale: s, color: ink)
        }
    }

    // Axis labels and title.
    if !options.xLabel.isEmpty {
        let label = fitted(options.xLabel, maxWidth: plotW, scale: s)
        img.draw(text: label, x: left + (plotW - Font.width(label, scale: s)) / 2, y: H - pad - textH,
                 scale: s, color: ink)
    }
    if !options.yLabel.isEmpty {
        let label = fitted(options.yLabel, maxWidth: plotH, scale: s)
        img.draw(text: label, x: pad, y: top + (plotH - Font.width(label, scale: s)) / 2,
                 scale: s, color: ink, rotated: true)
    }
    if !titleText.isEmpty {
        img.draw(text: titleText, x: (W - Font.width(titleText, scale: ts)) / 2, y: pad, scale: ts, color: ink)
    }

    drawLegend(&img, names: series.map(\.name), colors: colors, lineWidth: lineWidth, scale: s,
               plot: (coverage.x0, coverage.y0, coverage.width, coverage.height), occupied: occupied)
    return img
}

/// `text` cut with "..." to fit `maxWidth` pixels.
func fitted(_ text: String, maxWidth: Int, scale: Int) -> String {
    if Font.width(text, scale: scale) <= maxWidth { return text }
    var chars = Array(text.unicodeScalars)
    while !chars.isEmpty {
        chars.removeLast()
        var t = String.UnicodeScalarView()
        t.append(contentsOf: chars)
        let candidate = String(t) + "..."
        if Font.width(candidate, scale: scale) <= maxWidth { return candidate }
    }
    return ""
}

/// Legend box with a colour swatch per named series, in the plot corner covering the fewest
/// drawn pixels (ties: top right, top left, bottom right, bottom left).
private func drawLegend(_ img: inout Image, names: [String], colors: [Color], lineWidth: Double, scale s: Int,
                        plot: (x: Int, y: Int, w: Int, h: Int), occupied: [Bool]) {
    var entries = zip(names, colors).filter { !$0.0.isEmpty }.map { (label: $0.0, color: $0.1) }
    guard !entries.isEmpty else { return }
    let textH = Font.height(scale: s), cap = Font.ascent * s
    let boxPad = 4 * s, rowH = textH + s, swatchW = 9 * s, margin = 4 * s
    let maxRows = max(1, (plot.h - 2 * margin - 2 * boxPad) / rowH)
    if entries.count > maxRows {
        let hidden = entries.count - (maxRows - 1)
        entries = Array(entries.prefix(maxRows - 1)) + [(label: "+\(hidden) more", color: Color(r: 0, g: 0, b: 0, a: 0))]
    }
    let maxLabelW = max(20, plot.w * 6 / 10 - swatchW - 3 * boxPad)
    let labels = entries.map { fitted($0.label, maxWidth: maxLabelW, scale: s) }
    let boxW = min(plot.w - 2 * margin, 2 * boxPad + swatchW + boxPad + (labels.map { Font.width($0, scale: s) }.max() ?? 0))
    let boxH = min(plot.h - 2 * margin, 2 * boxPad + labels.count * rowH - s)
    guard boxW > 0, boxH > 0 else { return }

    let corners = [
        (plot.x + plot.w - margin - boxW, plot.y + margin),
        (plot.x + margin, plot.y + margin),
        (plot.x + plot.w - margin - boxW, plot.y + plot.h - margin - boxH),
        (plot.x + margin, plot.y + plot.h - margin - boxH),
    ]
    func crowding(_ c: (Int, Int)) -> Int {
        var n = 0
        for y in max(0, c.1 - plot.y)..<min(plot.h, c.1 - plot.y + boxH) {
            for x in max(0, c.0 - plot.x)..<min(plot.w, c.0 - plot.x + boxW) where occupied[y * plot.w + x] { n += 1 }
        }
        return n
    }
    let scores = corners.map(crowding)
    let best = corners[scores.firstIndex(of: scores.min() ?? 0) ?? 0]

    img.fill(x: best.0, y: best.1, width: boxW, height: boxH, color: Color(r: 255, g: 255, b: 255, a: 225))
    img.stroke(x: best.0, y: best.1, width: boxW, height: boxH, color: Color(r: 190, g: 190, b: 190))
    var cov = Coverage(x0: best.0, y0: best.1, width: boxW, height: boxH)
    var scratch = [Bool](repeating: false, count: boxW * boxH)
    for (i, e) in entries.enumerated() {
        let rowTop = best.1 + boxPad + i * rowH
        let midY = Double(rowTop) + Double(cap) / 2
        let x0 = Double(best.0 + boxPad)
        if e.color.a > 0 {
            cov.segment(x0 + lineWidth / 2, midY, x0 + Double(swatchW) - lineWidth / 2, midY, lineWidth: lineWidth + 1)
            cov.composite(into: &img, color: e.color, occupied: &scratch)
        }
        img.draw(text: labels[i], x: best.0 + 2 * boxPad + swatchW, y: rowTop, scale: s, color: Color(r: 38, g: 38, b: 38))
    }
}
