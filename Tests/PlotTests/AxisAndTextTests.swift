import Foundation
import Testing
@testable import Plot

@Suite struct TickTests {
    @Test func niceStepsAreOneTwoFive() {
        #expect(Ticks.niceStep(0.13) == 0.2)
        #expect(Ticks.niceStep(3) == 5)
        #expect(Ticks.niceStep(7) == 10)
        #expect(Ticks.niceStep(2e-5) == 2e-5)
        #expect(Ticks.niceStep(1) == 1)
    }

    @Test func linearTicks() {
        let t = Ticks.linear(lo: 0, hi: 1, maxTicks: 6)
        #expect(t.map(\.value) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1].map { $0 })
        #expect(t.map(\.label) == ["0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let steps = Ticks.linear(lo: 0, hi: 299, maxTicks: 8, minStep: 1)
        #expect(steps.map(\.label) == ["0", "50", "100", "150", "200", "250"])
        #expect(Ticks.linear(lo: 0, hi: 3, maxTicks: 20, minStep: 1).map(\.label) == ["0", "1", "2", "3"])
        let lr = Ticks.linear(lo: 0, hi: 3.1e-4, maxTicks: 8)
        #expect(lr.map(\.label) == ["0", "5e-5", "1e-4", "1.5e-4", "2e-4", "2.5e-4", "3e-4"])
        #expect(Ticks.linear(lo: 1, hi: 1, maxTicks: 5).isEmpty)
        #expect(Ticks.linear(lo: 1e16, hi: 1e16 + 2, maxTicks: 5).count <= 5)
        #expect(Ticks.linear(lo: -1e308, hi: 1e308, maxTicks: 5).map(\.label) == ["-1e308", "-5e307", "0", "5e307", "1e308"])
    }

    @Test func logTicks() {
        let decades = Ticks.log(lo: -3.2, hi: 3.1, maxTicks: 8).filter { $0.label != nil }
        #expect(decades.map(\.label) == ["0.001", "0.01", "0.1", "1", "10", "100", "1000"])
        let wide = Ticks.log(lo: -12, hi: 12, maxTicks: 6).compactMap(\.label)
        #expect(wide.count <= 6 && wide.contains("1e-12"))
        // Less than a decade (a typical loss curve, 0.75…3.6): mantissa ticks.
        let narrow = Ticks.log(lo: log10(0.75), hi: log10(3.6), maxTicks: 8).compactMap(\.label)
        #expect(narrow == ["0.8", "0.9", "1", "2", "3"])
    }

    @Test func formatting() {
        #expect(Ticks.format(2.5e-5, step: 5e-6) == "2.5e-5")
        #expect(Ticks.format(150_000, step: 50_000) == "1.5e5")
        #expect(Ticks.format(-0.0, step: 0.1) == "0")
        #expect(Ticks.format(-0.2, step: 0.1) == "-0.2")
        #expect(Ticks.formatPower(-4) == "1e-4" && Ticks.formatPower(3) == "1000" && Ticks.formatPower(-2) == "0.01")
    }
}

@Suite struct FontTests {
    @Test func everyPrintableGlyphHasInk() {
        #expect(Font.rows.count == 95)
        for (i, g) in Font.rows.enumerated() {
            #expect(g.count == Font.glyphHeight)
            #expect((g.reduce(0, |) != 0) == (i != 0), "glyph \(i + 32)")
            #expect(g.allSatisfy { $0 < 32 }, "glyph \(i + 32) is wider than 5")
        }
        // Distinct glyphs (no copy-paste slips), except none.
        #expect(Set(Font.rows).count == 95)
    }

    @Test func nonASCIIBecomesQuestionMark() {
        #expect(Font.width("é", scale: 1) == Font.width("?", scale: 1))
        #expect(Font.width("a\u{1F600}b", scale: 2) == Font.width("a?b", scale: 2))
        #expect(Font.width("", scale: 3) == 0)
        #expect(Font.width("00", scale: 1) == 11)  // digits: 5 wide + 1 spacing
    }

    @Test func drawsTextUprightAndRotated() {
        var img = Image(width: 60, height: 60)
        img.draw(text: "T", x: 10, y: 10, scale: 2, color: .black)
        // 'T' top bar: row 0, columns 0…4 at scale 2 → x 10…19, y 10…11 black.
        #expect(img[x: 10, y: 10] == .black && img[x: 19, y: 11] == .black && img[x: 20, y: 10] == .white)
        var rot = Image(width: 60, height: 60)
        rot.draw(text: "T", x: 10, y: 10, scale: 2, color: .black, rotated: true)
        // Rotated bottom-to-top: the top bar becomes the left column, x 10…11, y 10…19.
        #expect(rot[x: 10, y: 10] == .black && rot[x: 11, y: 19] == .black && rot[x: 10, y: 20] == .white)
        #expect(rot[x: 16, y: 14] == .black)  // the stem runs across the middle
    }
}

@Suite struct LegendTests {
    @Test func namesOnlyDifferingKeys() {
        let p: [[String: String]] = [
            ["lr": "1e-4", "r": "16", "alpha": "32"],
            ["lr": "3e-4", "r": "16", "alpha": "32"],
            ["lr": "1e-4", "r": "8", "alpha": "32"],
        ]
        #expect(legendLabels(params: p, names: ["a", "b", "c"]) == ["lr=1e-4, r=16", "lr=3e-4, r=16", "lr=1e-4, r=8"])
    }

    @Test func fallsBackToNames() {
        let same = [["lr": "1e-4"], ["lr": "1e-4"]]
        #expect(legendLabels(params: same, names: ["run 3", "run 4"]) == ["run 3", "run 4"])
        #expect(legendLabels(params: [["lr": "1"]], names: ["solo"]) == ["solo"])
        #expect(legendLabels(params: [], names: []) == [])
    }

    @Test func missingKeysAndCollisions() {
        let p: [[String: String]] = [["lr": "1e-4", "seed": "1"], ["lr": "1e-4"], ["lr": "2e-4", "seed": "1"], ["lr": "1e-4", "seed": "1"]]
        #expect(legendLabels(params: p, names: ["r1", "r2", "r3", "r4"])
                == ["lr=1e-4, seed=1 (r1)", "lr=1e-4, seed=-", "lr=2e-4, seed=1", "lr=1e-4, seed=1 (r4)"])
    }

    @Test func longValuesAreShortened() {
        let p = [["data": "/work/shared/data/very/long/path/to/train-000.jsonl"], ["data": "/work/shared/data/very/long/path/to/train-001.jsonl"]]
        let l = legendLabels(params: p, names: ["a", "b"])
        #expect(l[0] != l[1] && l.allSatisfy { $0.count <= 5 + 28 && $0.contains("...") })
    }
}
