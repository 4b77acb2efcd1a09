import Foundation
import Testing
@testable import Plot

@Suite struct ChartTests {
    /// A falling loss curve, unnamed so no legend swatch can supply its colour.
    func curve(_ n: Int, scale: Double = 1, offset: Double = 0) -> [(x: Double, y: Double)] {
        (0..<n).map { (x: Double($0), y: offset + scale * (3 * exp(-Double($0) / 30) + 0.8)) }
    }

    @Test func writesAPNGThatDecodesToTheSameImage() throws {
        let tmp = try TempDir()
        let img = renderLineChart(series: [Series(name: "a", points: curve(100))],
                                  options: ChartOptions(title: "loss", yLabel: "loss", width: 640, height: 400))
        #expect(img.width == 640 && img.height == 400)
        let path = tmp.path("deep/er/chart.png")
        try img.writePNG(path: path)  // creates folders
        let back = try Image.readPNG(path: path)
        #expect(back.width == 640 && back.height == 400)
        #expect(back == img)
        // Overwriting is atomic: no temporary files are left beside the result.
        try renderLineChart(series: [], options: ChartOptions()).writePNG(path: path)
        let names = try FileManager.default.contentsOfDirectory(atPath: tmp.path("deep/er"))
        #expect(names == ["chart.png"])
        #expect(try Image.readPNG(path: path).width == 1000)
    }

    @Test func plotAreaIsDrawnAndEachSeriesHasItsColour() throws {
        let tmp = try TempDir()
        let series = (0..<4).map { i in Series(name: "", points: curve(200, scale: 1 + Double(i) * 0.3)) }
        let custom = Color(r: 1, g: 2, b: 3)
        let img = try renderLineChart(series: series + [Series(name: "", points: curve(200, offset: 2), color: custom)],
                                      options: ChartOptions(title: "t")).roundTrip(in: tmp)
        // The centre of the image lies inside the plot area; curves make it differ from white.
        var inked = 0
        for y in img.height / 4..<(3 * img.height / 4) {
            for x in img.width / 4..<(3 * img.width / 4) where !img.isBackground(x: x, y: y) { inked += 1 }
        }
        #expect(inked > 500)
        for i in 0..<4 { #expect(img.positions(of: Color.palette(i)).count > 100, "series \(i)") }
        #expect(img.positions(of: custom).count > 100)
        #expect(img.positions(of: Color.palette(4)).isEmpty)  // the custom colour replaced it
    }

    @Test func paletteColoursAreDistinct() {
        let colors = (0..<40).map { Color.palette($0) }
        #expect(Set(colors).count == 40)
    }

    @Test func legendShowsASwatchPerNamedSeries() throws {
        let tmp = try TempDir()
        // Flat data far below: no curve pixels of colour 1 exist except the legend swatch.
        let series = [Series(name: "lr=1e-4", points: curve(50)), Series(name: "lr=3e-4", points: [])]
        let img = try renderLineChart(series: series, options: ChartOptions()).roundTrip(in: tmp)
        #expect(img.positions(of: Color.palette(1)).count > 10)
        let unnamed = renderLineChart(series: series.map { Series(name: "", points: $0.points) }, options: ChartOptions())
        #expect(unnamed.positions(of: Color.palette(1)).isEmpty)
    }

    /// log10(y) linear in x must come out as a straight descending line on a log axis (and a
    /// strongly curved one on a linear axis, which shows the check can tell them apart).
    @Test func logAxisPlacesDecadesEvenly() throws {
        let tmp = try TempDir()
        let pts = (0...60).map { (x: Double($0), y: pow(10, 3 - Double($0) / 10)) }  // 1000 … 0.001
        func centroids(_ logY: Bool) throws -> [(x: Double, y: Double)] {
            let img = try renderLineChart(series: [Series(name: "", points: pts)],
                                          options: ChartOptions(logY: logY)).roundTrip(in: tmp)
            var cols: [Int: [Int]] = [:]
            for p in img.positions(of: Color.palette(0)) { cols[p.x, default: []].append(p.y) }
            return cols.keys.sorted().map { x in (Double(x), Double(cols[x]!.reduce(0, +)) / Double(cols[x]!.count)) }
        }
        let logC = try centroids(true)
        #expect(logC.count > 500)
        // Monotonic: smaller values lower on screen.
        for (a, b) in zip(logC, logC.dropFirst()) { #expect(b.y >= a.y - 1.5, "column \(b.x)") }
        #expect(maxDeviationFromLine(logC) < 2.5)
        #expect(maxDeviationFromLine(try centroids(false)) > 50)
    }

    func maxDeviationFromLine(_ p: [(x: Double, y: Double)]) -> Double {
        let n = Double(p.count)
        let mx = p.map(\.x).reduce(0, +) / n, my = p.map(\.y).reduce(0, +) / n
        let sxy = p.map { ($0.x - mx) * ($0.y - my) }.reduce(0, +), sxx = p.map { ($0.x - mx) * ($0.x - mx) }.reduce(0, +)
        let slope = sxy / sxx
        return p.map { abs($0.y - (my + slope * ($0.x - mx))) }.max() ?? 0
    }

    /// A NaN in the middle breaks the line: no stroke pixels in the columns around it.
    @Test func nonFinitePointsBreakTheLine() throws {
        let pts: [(x: Double, y: Double)] = [(0, 1), (1, 1), (2, .nan), (3, 1), (4, 1), (5, .infinity), (6, 2)]
        let img = renderLineChart(series: [Series(name: "", points: pts)], options: ChartOptions())
        let xs = Set(img.positions(of: Color.palette(0)).map(\.x))
        #expect(!xs.isEmpty)
        let lo = xs.min()!, hi = xs.max()!
        let span = Double(hi - lo)
        // Columns for x in (1.3, 2.7) hold no stroke; x=6 is an isolated point, drawn as a dot.
        let gap = (lo + Int(span * 1.3 / 6) + 4)...(lo + Int(span * 2.7 / 6) - 4)
        #expect(xs.allSatisfy { !gap.contains($0) })
        let right = img.positions(of: Color.palette(0)).filter { Double($0.x - lo) > span * 5.5 / 6 }
        #expect(right.count > 8)
    }

    @Test func singlePointIsADot() throws {
        let img = renderLineChart(series: [Series(name: "", points: [(x: 5, y: 2)])], options: ChartOptions())
        let dot = img.positions(of: Color.palette(0))
        #expect(dot.count >= 9)
        // Compact: all within a few pixels of each other.
        let xs = dot.map(\.x), ys = dot.map(\.y)
        #expect(xs.max()! - xs.min()! <= 10 && ys.max()! - ys.min()! <= 10)
    }

    /// Smoothing draws the smoothed curve in full colour and the raw one faint behind it.
    @Test func smoothingDrawsRawCurveFaintly() throws {
        var rng = SystemRandomNumberGenerator()
        let noisy = (0..<300).map { (x: Double($0), y: 2 + Double.random(in: -1...1, using: &rng)) }
        let c = Color.palette(0)
        let img = renderLineChart(series: [Series(name: "", points: noisy)], options: ChartOptions(smoothing: 0.9))
        var faint = 0
        for y in 0..<img.height {
            for x in 0..<img.width {
                let p = img[x: x, y: y]
                // A light tint of the series colour: between it and white on every channel.
                let tinted = p.r >= c.r && p.g >= c.g && p.b >= c.b && p.b < 255
                let light = Int(p.r) + Int(p.g) + Int(p.b) > 600
                if tinted && light { faint += 1 }
            }
        }
        #expect(faint > 1000)
        #expect(img.positions(of: c).count > 100)
    }

    /// TensorBoard's smoothing: last = last·w + (1−w)·y, shown as last / (1 − w^n).
    @Test func smoothingIsDebiasedEMA() {
        let out = smooth([1, 2, .nan, 3], weight: 0.5)
        #expect(out[0] == 1)
        #expect(abs(out[1] - 1.25 / 0.75) < 1e-12)
        #expect(out[2].isNaN)
        #expect(abs(out[3] - 2.125 / 0.875) < 1e-12)
        #expect(smooth([1, 5], weight: 0) == [1, 5])
    }

    @Test func survivesDegenerateInput() throws {
        let tmp = try TempDir()
        let weird: [[(x: Double, y: Double)]] = [
            [], [(.nan, .nan)], [(.infinity, 1), (1, -.infinity)], [(0, 0), (0, 0)],
            [(-1e308, 1e308), (1e308, -1e308)], [(0, -5), (1, -1)], [(1, .leastNonzeroMagnitude), (2, .leastNonzeroMagnitude)],
            [(0, 1), (1e-300, 1 + 1e-15)], (0..<5000).map { (x: Double($0), y: Double($0 % 7)) },
        ]
        for logY in [false, true] {
            for smoothing in [0, 0.6, 1, .nan, -3] {
                for (i, pts) in weird.enumerated() {
                    let img = renderLineChart(series: [Series(name: "é ü \u{1F600}", points: pts)],
                                              options: ChartOptions(title: "weird \(i) ✓", logY: logY, smoothing: smoothing,
                                                                    width: 300, height: 200))
                    #expect(img.width == 300 && img.height == 200)
                }
            }
        }
        let all = renderLineChart(series: weird.map { Series(name: "s", points: $0) }, options: ChartOptions(logY: true))
        _ = try all.roundTrip(in: tmp)
        for (w, h) in [(0, 0), (1, 1), (-5, 10), (100_000, 50)] {
            let img = renderLineChart(series: [Series(name: "a", points: curve(10))], options: ChartOptions(width: w, height: h))
            #expect(img.width >= 1 && img.height >= 1 && img.width <= 8192)
        }
        // An empty chart still has axes (non-white pixels), and a legend-less empty series list.
        let empty = renderLineChart(series: [], options: ChartOptions())
        #expect(empty.pixels.contains { $0 < 200 })
        // Many series: the legend is cut to what fits, nothing crashes.
        let many = (0..<60).map { Series(name: "run \($0) with a fairly long label", points: curve(20, offset: Double($0))) }
        _ = renderLineChart(series: many, options: ChartOptions(width: 400, height: 250))
    }

    @Test func readingABadFileFails() throws {
        let tmp = try TempDir()
        let path = tmp.path("not.png")
        try Data("definitely not a PNG".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: PlotError.self) { _ = try Image.readPNG(path: path) }
        #expect(throws: PlotError.self) { _ = try Image.readPNG(path: tmp.path("missing.png")) }
        #expect(throws: PlotError.self) { try Image(width: 4, height: 4).writePNG(path: "/proc/forbidden/x.png") }
    }
}
