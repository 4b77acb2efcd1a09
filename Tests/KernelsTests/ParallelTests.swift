import Foundation
import Synchronization
import Testing
@testable import Kernels

/// Every item is visited exactly once, also when calls overlap from several threads or nest
/// (those run their ranges on the caller), and thousands of back-to-back jobs never hang.
@Test func forEachRangeVisitsEveryItemOnce() {
    Parallel.workers = 2
    for count in [0, 1, 2, 3, 17, 1000, 4097] {
        let hits = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
        hits.initialize(repeating: 0, count: max(count, 1))
        Parallel.forEachRange(count) { r in for i in r { hits[i] += 1 } }
        #expect((0..<count).allSatisfy { hits[$0] == 1 }, "count \(count)")
        hits.deallocate()
    }
}

@Test func overlappingAndNestedCallsStayCorrect() {
    Parallel.workers = 2
    let n = 2000
    DispatchQueue.concurrentPerform(iterations: 4) { _ in
        for _ in 0..<200 {
            var sums = [Int](repeating: 0, count: 2)
            sums.withUnsafeMutableBufferPointer { s in
                Parallel.forEachRange(n) { r in
                    let local = Atomic<Int>(0)
                    Parallel.forEachRange(r.count) { inner in local.add(inner.count, ordering: .relaxed) }   // nested
                    s[r.lowerBound == 0 ? 0 : 1] = local.load(ordering: .relaxed)
                }
            }
            #expect(sums[0] + sums[1] == n)
        }
    }
}

@Test func seededRNGIsReproducibleAndRoundTrips() throws {
    var a = SeededRNG(seed: 3407), b = SeededRNG(seed: 3407), c = SeededRNG(seed: 3408)
    let xs = (0..<100).map { _ in a.next() }
    #expect(xs == (0..<100).map { _ in b.next() })
    #expect(xs != (0..<100).map { _ in c.next() })
    let data = try JSONEncoder().encode(a)
    var d = try JSONDecoder().decode(SeededRNG.self, from: data)
    #expect(d.next() == a.next())
    let f = (0..<10_000).map { _ in a.nextFloat() }
    #expect(f.allSatisfy { $0 >= 0 && $0 < 1 })
    #expect(abs(f.reduce(0, +) / 10_000 - 0.5) < 0.02)
}
