import Foundation
import Testing
@testable import Metrics

/// CPython 3.11 / NumPy 2.4 values (printed by the interpreter), beyond the 1,516 rounded scores of the parity fixture.
@Suite struct PythonNumericsTests {
    @Test func roundMatchesPythonIncludingExactTies() {
        let cases: [(Double, Double)] = [
            (0.03125, 0.0312), (-0.03125, -0.0312),         // exact binary ties: half to even
            (5e-05, 0.0001), (0.00015, 0.0001), (0.00025, 0.0003), // not ties: the binary value decides
            (2.675, 2.675), (100.00500000000001, 100.005), (12.34565, 12.3456), (99.99995, 99.9999),
            (123456.78905, 123456.7891), (0.30000000000000004, 0.3), (1e-300, 0.0), (-2.675, -2.675),
        ]
        for (x, want) in cases {
            #expect(PythonNumerics.round(x, digits: 4).bitPattern == want.bitPattern, "round(\(x), 4)")
        }
        #expect(PythonNumerics.round(-1e-300, digits: 4).sign == .minus)
        // A naive (x * 1e4).rounded() / 1e4 gets the tie wrong: the exact arithmetic is what matters.
        #expect(((0.03125 * 1e4).rounded() / 1e4) != 0.0312)
    }

    @Test func fsumIsCorrectlyRounded() {
        #expect(PythonNumerics.fsum(Array(repeating: 0.1, count: 10)) == 1.0)
        #expect(PythonNumerics.fsum([1e100, 1.0, -1e100, 1e-100]) == 1.0)
        #expect(PythonNumerics.fsum([1e-16, 1, 1e16]) == 1.0000000000000002e+16)   // the half-even fix-up
        #expect(PythonNumerics.fsum([-0.25 * log(0.5), 0.25 * log(1.0 / 3), 0.25 * log(0.1), 0.25 * log(0.7)]) == -0.7661812862602356)
        #expect(PythonNumerics.fsum([]) == 0)
    }

    @Test func meanIsNumpysPairwiseSum() {
        // np.mean([0.1] * 1000) == 0.10000000000000002; sequential summation gives 0.09999999999999859.
        let xs = Array(repeating: 0.1, count: 1000)
        #expect(PythonNumerics.mean(xs) == 0.10000000000000002)
        #expect(xs.reduce(0, +) / 1000 == 0.09999999999999859)
        #expect(PythonNumerics.mean([]).isNaN)
        #expect(PythonNumerics.mean([3]) == 3)
    }
}
