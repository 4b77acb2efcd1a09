import CPNG
import Foundation

public struct PlotError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct Color: Sendable, Hashable {
    public var r: UInt8, g: UInt8, b: UInt8, a: UInt8
    public init(r: UInt8, g: UInt8, b: UInt8, a: UInt8 = 255) {
        self.r = r; self.g = g; self.b = b; self.a = a
    }

    public static let white = Color(r: 255, g: 255, b: 255)
    public static let black = Color(r: 0, g: 0, b: 0)

    /// matplotlib's tab10 palette, then golden-angle hues so every series gets its own colour.
    public static func palette(_ i: Int) -> Color {
        let tab10: [(UInt8, UInt8, UInt8)] = [
            (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
        ]
        let i = max(0, i)
        if i < tab10.count { return Color(r: tab10[i].0, g: tab10[i].1, b: tab10[i].2) }
        let hue = (Double(i - tab10.count) * 0.618033988749895 + 0.07).truncatingRemainder(dividingBy: 1)
        let value = i % 2 == 0 ? 0.78 : 0.6
        return hsv(hue, 0.75, value)
    }

    static func hsv(_ h: Double, _ s: Double, _ v: Double) -> Color {
        let h6 = h * 6, sector = Int(h6) % 6, f = h6 - Double(Int(h6))
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        let (r, g, b): (Double, Double, Double)
        switch sector {
        case 0: (r, g, b) = (v, t, p)
        case 1: (r, g, b) = (q, v, p)
        case 2: (r, g, b) = (p, v, t)
        case 3: (r, g, b) = (p, q, v)
        case 4: (r, g, b) = (t, p, v)
        default: (r, g, b) = (v, p, q)
        }
        return Color(r: UInt8(r * 255), g: UInt8(g * 255), b: UInt8(b * 255))
    }
}

/// An 8-bit RGBA raster, rows top to bottom.
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// width × height × 4 bytes: R, G, B, A.
    public internal(set) var pixels: [UInt8]

    public init(width: Int, height: Int, fill: Color = .white) {
        self.width = max(0, width)
        self.height = max(0, height)
        pixels = [UInt8](repeating: 0, count: self.width * self.height * 4)
        for i in 0..<(self.width * self.height) {
            pixels[4 * i] = fill.r; pixels[4 * i + 1] = fill.g; pixels[4 * i + 2] = fill.b; pixels[4 * i + 3] = fill.a
        }
    }

    public subscript(x x: Int, y y: Int) -> Color {
        let i = (y * width + x) * 4
        return Color(r: pixels[i], g: pixels[i + 1], b: pixels[i + 2], a: pixels[i + 3])
    }

    /// Composites `color` (its alpha times `coverage`) over the pixel; clipped to the image.
    @inline(__always)
    mutating func blend(x: Int, y: Int, color: Color, coverage: Double = 1) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let a = Double(color.a) / 255 * min(1, max(0, coverage))
        guard a > 0 else { return }
        let i = (y * width + x) * 4
        pixels.withUnsafeMutableBufferPointer { p in
            p[i] = UInt8((Double(p[i]) * (1 - a) + Double(color.r) * a).rounded())
            p[i + 1] = UInt8((Double(p[i + 1]) * (1 - a) + Double(color.g) * a).rounded())
            p[i + 2] = UInt8((Double(p[i + 2]) * (1 - a) + Double(color.b) * a).rounded())
            p[i + 3] = UInt8(min(255, (Double(p[i + 3]) + (255 - Double(p[i + 3])) * a).rounded()))
        }
    }

    /// Blends a rectangle, clipped to the image.
    mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: Color) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            for xx in x0..<x1 { blend(x: xx, y: yy, color: color) }
        }
    }

    /// One-pixel rectangle outline.
    mutating func stroke(x: Int, y: Int, width w: Int, height h: Int, color: Color) {
        fill(x: x, y: y, width: w, height: 1, color: color)
        fill(x: x, y: y + h - 1, width: w, height: 1, color: color)
        fill(x: x, y: y, width: 1, height: h, color: color)
        fill(x: x + w - 1, y: y, width: 1, height: h, color: color)
    }

    // MARK: PNG

    /// Writes the image as an RGBA PNG. Atomic: written to a temporary file in the same folder
    /// (created if missing) and renamed over `path`, so readers never see half a file.
    public func writePNG(path: String) throws {
        guard width > 0, height > 0, pixels.count == width * height * 4 else {
            throw PlotError("cannot write a \(width)×\(height) image with \(pixels.count) bytes to \(path)")
        }
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw PlotError("cannot create folder \(dir.path) for \(path): \(error.localizedDescription)")
        }
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp").path
        var img = png_image()
        img.version = tunelab_png_image_version
        img.width = png_uint_32(width)
        img.height = png_uint_32(height)
        img.format = tunelab_png_format_rgba
        let ok = pixels.withUnsafeBytes { buf in
            png_image_write_to_file(&img, tmp, 0, buf.baseAddress, 0, nil)
        }
        if ok == 0 {
            let msg = Self.message(of: &img)
            png_image_free(&img)
            unlink(tmp)
            throw PlotError("writing PNG \(path) failed: \(msg)")
        }
        png_image_free(&img)
        if rename(tmp, path) != 0 {
            let err = String(cString: strerror(errno))
            unlink(tmp)
            throw PlotError("cannot move the new PNG into place at \(path): \(err)")
        }
    }

    /// Reads any PNG as 8-bit RGBA.
    public static func readPNG(path: String) throws -> Image {
        var img = png_image()
        img.version = tunelab_png_image_version
        guard png_image_begin_read_from_file(&img, path) != 0 else {
            let msg = message(of: &img)
            png_image_free(&img)
            throw PlotError("cannot read PNG \(path): \(msg)")
        }
        let w = Int(img.width), h = Int(img.height)
        guard w > 0, h > 0, w <= 32768, h <= 32768 else {
            png_image_free(&img)
            throw PlotError("PNG \(path) is \(w)×\(h): outside the supported 1…32768 pixels per side")
        }
        img.format = tunelab_png_format_rgba
        var out = Image(width: w, height: h, fill: Color(r: 0, g: 0, b: 0, a: 0))
        let ok = out.pixels.withUnsafeMutableBytes { buf in
            png_image_finish_read(&img, nil, buf.baseAddress, 0, nil)
        }
        guard ok != 0 else {
            let msg = message(of: &img)
            png_image_free(&img)
            throw PlotError("decoding PNG \(path) failed: \(msg)")
        }
        png_image_free(&img)
        return out
    }

    private static func message(of img: inout png_image) -> String {
        withUnsafeBytes(of: &img.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
