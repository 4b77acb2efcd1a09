import Kernels
import Testing

/// Two results that differ only in how many rows shared a product (chunk sizes, the inference
/// and training drivers): bit-identical where the BLAS kernel set rounds an element alike in
/// any call (`BLAS.shapeStable`), else within `relative` of the largest magnitude (never
/// compared with `==` on the arrays inside `#expect`: a failing one would diff them for hours).
func expectSameUpToCallShape<F: BinaryFloatingPoint>(_ a: [F], _ b: [F], relative: F = 1e-5, _ what: String,
                             sourceLocation: SourceLocation = #_sourceLocation) {
    guard a.count == b.count else {
        Issue.record("\(what): \(a.count) vs \(b.count) values", sourceLocation: sourceLocation)
        return
    }
    if BLAS.shapeStable {
        let same = a == b
        #expect(same, "\(what): not bit-identical (kernels \(BLAS.coreName))", sourceLocation: sourceLocation)
    } else {
        let scale = max(1, a.reduce(F(0)) { max($0, abs($1)) })
        let d = zip(a, b).reduce(F(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(d <= relative * scale, "\(what): max |Δ| = \(d) (kernels \(BLAS.coreName))", sourceLocation: sourceLocation)
    }
}

func expectSameUpToCallShape(_ a: Double, _ b: Double, relative: Double = 1e-6, _ what: String,
                             sourceLocation: SourceLocation = #_sourceLocation) {
    if BLAS.shapeStable {
        #expect(a == b, "\(what): not bit-identical (kernels \(BLAS.coreName))", sourceLocation: sourceLocation)
    } else {
        #expect(abs(a - b) <= relative * max(1, abs(a)), "\(what): \(a) vs \(b) (kernels \(BLAS.coreName))",
                sourceLocation: sourceLocation)
    }
}
