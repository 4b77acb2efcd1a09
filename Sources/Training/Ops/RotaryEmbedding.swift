import Foundation
import Kernels

/// cos/sin per position for rotate-half RoPE (dimension i pairs with i + hd/2), computed as
/// Transformer's `RoPE` does (fp32 angle pos · invFreq[i]); pass that `RoPE.invFreq`.
/// Positions are explicit so packed sequences can restart at 0.
struct RoPETable {
    let half: Int
    let cos: [Float], sin: [Float]   // [positions.count × half]

    init(invFreq: [Float], positions: [Int]) {
        half = invFreq.count
        var c = [Float](repeating: 0, count: positions.count * half), s = c
        for (t, p) in positions.enumerated() {
            for i in 0..<half {
                let a = Float(p) * invFreq[i]
                c[t * half + i] = Foundation.cos(a); s[t * half + i] = Foundation.sin(a)
            }
        }
        cos = c; sin = s
    }
    var tokens: Int { half == 0 ? 0 : cos.count / half }
}

extension Ops {
    /// Rotates x [T × heads × hd] in place by the angle of each token's position. Caches nothing
    /// (the rotation is linear; the backward needs only the table).
    static func ropeForward(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim hd: Int, table: RoPETable) {
        rotate(x, heads: heads, headDim: hd, table: table, sign: 1)
    }

    /// dx = R(−θ) · dout, in place on the gradient buffer (overwrites it: dout becomes dx).
    static func ropeBackward(_ d: UnsafeMutablePointer<Float>, heads: Int, headDim hd: Int, table: RoPETable) {
        rotate(d, heads: heads, headDim: hd, table: table, sign: -1)
    }

    private static func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim hd: Int, table: RoPETable, sign: Float) {
        let half = hd / 2
        precondition(half == table.half, "RoPE table is for head dim \(2 * table.half), not \(hd)")
        table.cos.withUnsafeBufferPointer { cp in table.sin.withUnsafeBufferPointer { sp in
          Parallel.forEachRange(table.tokens, minPerWorker: 16) { rows in
            for t in rows {
                let c = cp.baseAddress! + t * half, s = sp.baseAddress! + t * half
                for h in 0..<heads {
                    let v = x + (t * heads + h) * hd
                    for i in 0..<half {
                        let a = v[i], b = v[i + half], si = sign * s[i]
                        v[i] = a * c[i] - b * si
                        v[i + half] = b * c[i] + a * si
                    }
                }
            }
          }
        } }
    }
}
