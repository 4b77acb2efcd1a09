import Foundation
@testable import Plot

final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("plot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

extension Image {
    /// Writes the chart and decodes the file again, so tests look at what a user would see.
    func roundTrip(in dir: TempDir, name: String = "chart.png") throws -> Image {
        let path = dir.path(name)
        try writePNG(path: path)
        return try Image.readPNG(path: path)
    }

    /// Pixels whose RGB equals `c` exactly (full-coverage stroke pixels).
    func positions(of c: Color) -> [(x: Int, y: Int)] {
        var out: [(x: Int, y: Int)] = []
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 4
                if pixels[i] == c.r && pixels[i + 1] == c.g && pixels[i + 2] == c.b { out.append((x, y)) }
            }
        }
        return out
    }

    func isBackground(x: Int, y: Int) -> Bool {
        let p = self[x: x, y: y]
        return p.r == 255 && p.g == 255 && p.b == 255
    }
}
