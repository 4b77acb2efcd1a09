import Foundation

/// Anti-aliased strokes for one series, rasterised into a coverage buffer over a clip rectangle
/// and then composited once. Taking the maximum coverage per pixel (not summing) keeps joints
/// between segments and overlapping faint curves from darkening.
struct Coverage {
    let x0: Int, y0: Int, width: Int, height: Int
    private(set) var cov: [Float]
    private var dirty: (minX: Int, minY: Int, maxX: Int, maxY: Int)

    init(x0: Int, y0: Int, width: Int, height: Int) {
        self.x0 = x0; self.y0 = y0
        self.width = max(0, width); self.height = max(0, height)
        cov = [Float](repeating: 0, count: self.width * self.height)
        dirty = (Int.max, Int.max, Int.min, Int.min)
    }

    /// A stroke of `lineWidth` pixels from a to b (image coordinates, pixel centres at +0.5),
    /// with round caps.
    mutating func segment(_ ax: Double, _ ay: Double, _ bx: Double, _ by: Double, lineWidth: Double) {
        let r = lineWidth / 2
        let minX = max(x0, Int((min(ax, bx) - r - 1).rounded(.down)))
        let maxX = min(x0 + width - 1, Int((max(ax, bx) + r + 1).rounded(.up)))
        let minY = max(y0, Int((min(ay, by) - r - 1).rounded(.down)))
        let maxY = min(y0 + height - 1, Int((max(ay, by) + r + 1).rounded(.up)))
        guard minX <= maxX, minY <= maxY else { return }
        markDirty(minX, minY, maxX, maxY)
        let dx = bx - ax, dy = by - ay
        let len2 = dx * dx + dy * dy
        let w = width
        cov.withUnsafeMutableBufferPointer { c in
            for y in minY...maxY {
                let py = Double(y) + 0.5
                let row = (y - y0) * w - x0
                for x in minX...maxX {
                    let px = Double(x) + 0.5
                    var t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0
                    t = min(1, max(0, t))
                    let ex = px - (ax + t * dx), ey = py - (ay + t * dy)
                    let a = Float(min(1, max(0, r + 0.5 - (ex * ex + ey * ey).squareRoot())))
                    if a > c[row + x] { c[row + x] = a }
                }
            }
        }
    }

    /// A filled disc (a single data point).
    mutating func dot(_ cx: Double, _ cy: Double, radius: Double) {
        segment(cx, cy, cx, cy, lineWidth: radius * 2)
    }

    /// Blends `color` into `image` by coverage, reports covered pixels to `occupied`, and clears.
    mutating func composite(into image: inout Image, color: Color, occupied: inout [Bool]) {
        guard dirty.minX <= dirty.maxX else { return }
        for y in dirty.minY...dirty.maxY {
            for x in dirty.minX...dirty.maxX {
                let i = (y - y0) * width + (x - x0)
                let a = cov[i]
                if a > 0 {
                    image.blend(x: x, y: y, color: color, coverage: Double(a))
                    if a > 0.3 { occupied[i] = true }
                    cov[i] = 0
                }
            }
        }
        dirty = (Int.max, Int.max, Int.min, Int.min)
    }

    private mutating func markDirty(_ a: Int, _ b: Int, _ c: Int, _ d: Int) {
        dirty = (min(dirty.minX, a), min(dirty.minY, b), max(dirty.maxX, c), max(dirty.maxY, d))
    }
}
