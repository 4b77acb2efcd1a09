import Transformer

/// A model's frozen (possibly quantised) projection seen as a `FrozenMatrix`: QLoRA keeps the
/// base weights in their stored type and dequantises blocks of rows inside each product.
/// The bias, if any, is added by `forward` (frozen: no gradient).
struct FrozenLinear: FrozenMatrix {
    let linear: Linear
    let scratch: Scratch
    /// Where `StepProfile` charges this matrix's products.
    var phase: StepProfile.Phase = .frozen
    var rows: Int { linear.rows }
    var cols: Int { linear.cols }

    func forward(_ x: UnsafePointer<Float>, m: Int, _ y: UnsafeMutablePointer<Float>) {
        guard m > 0 else { return }
        StepProfile.measure(phase) { linear.forward(x, m: m, y, scratch: scratch) }
    }

    func backwardInput(_ dy: UnsafePointer<Float>, m: Int, _ dx: UnsafeMutablePointer<Float>) {
        guard m > 0 else { return }
        StepProfile.measure(phase) { linear.backwardInput(dy, m: m, dx, scratch: scratch) }
    }
}
