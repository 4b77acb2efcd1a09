import Foundation
import Testing
@testable import Training

/// References: Tests/Fixtures/optimizer/schedules.json (transformers.get_scheduler + LambdaLR,
/// lr read from the optimizer before each of 50 steps; warmup ratios resolved by
/// TrainingArguments.get_warmup_steps).
struct ScheduleReference: Decodable {
    struct Case: Decodable {
        let name: String
        let warmup_kind: String
        let warmup: Double
        let warmup_steps: Int
        let lrs: [Double]
    }
    let base_lr: Double
    let total_steps: Int
    let cases: [Case]
}

@Suite struct ScheduleTests {
    @Test func matchesTransformersSchedulers() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/optimizer/schedules.json")
        let ref = try JSONDecoder().decode(ScheduleReference.self, from: Data(contentsOf: url))
        #expect(ref.cases.count == 20)
        var exact = 0, total = 0
        for c in ref.cases {
            let warmup: LRSchedule.Warmup = c.warmup_kind == "ratio" ? .ratio(c.warmup) : .steps(Int(c.warmup))
            let s = try LRSchedule(name: c.name, baseLR: ref.base_lr, totalSteps: ref.total_steps, warmup: warmup)
            #expect(s.warmupSteps == c.warmup_steps || c.name == "constant", "\(c.name) \(c.warmup_kind) \(c.warmup)")
            #expect(c.lrs.count == ref.total_steps)
            for (k, want) in c.lrs.enumerated() {
                let got = s.lr(at: k)
                total += 1
                if got == want { exact += 1 }
                #expect(abs(got - want) <= 1e-9 * abs(want), "\(c.name) warmup \(c.warmup_kind)=\(c.warmup) step \(k): \(got) vs \(want)")
            }
        }
        print("schedules: \(exact)/\(total) lr values bit-identical to transformers")
    }

    @Test func firstStepOfWarmupUsesLambdaZero() throws {
        let s = try LRSchedule(kind: .linear, baseLR: 1e-3, totalSteps: 10, warmup: .steps(2))
        #expect(s.lr(at: 0) == 0)
        #expect(s.lr(at: 1) == 0.5e-3)
        #expect(s.lr(at: 2) == 1e-3)
        #expect(s.lr(at: 10) == 0)
    }

    @Test func validationNamesTheParameter() throws {
        func message(_ f: () throws -> LRSchedule) -> String {
            do { _ = try f(); return "" } catch { return "\(error)" }
        }
        #expect(message { try LRSchedule(kind: .linear, baseLR: 0, totalSteps: 10) }.contains("lr"))
        #expect(message { try LRSchedule(kind: .linear, baseLR: 1e-3, totalSteps: 10, warmup: .steps(11)) }.contains("warmup_steps"))
        #expect(message { try LRSchedule(kind: .linear, baseLR: 1e-3, totalSteps: 10, warmup: .steps(-1)) }.contains("warmup_steps"))
        #expect(message { try LRSchedule(kind: .cosine, baseLR: 1e-3, totalSteps: 10, warmup: .ratio(1.5)) }.contains("warmup_ratio"))
        #expect(message { try LRSchedule(kind: .cosine, baseLR: 1e-3, totalSteps: 0) }.contains("total_steps"))
        #expect(message { try LRSchedule(name: "polynomial", baseLR: 1e-3, totalSteps: 10) }.contains("polynomial"))
        #expect(message { try LRSchedule(kind: .linear, baseLR: 1e-3, totalSteps: 10, warmup: .steps(10)) } == "")
    }
}

/// transformers' `TrainingArguments.get_warmup_steps`: `warmup_steps` when > 0, else
/// `ceil(total × warmup_ratio)`; the ratio never overrides explicit steps.
@Test func warmupStepsWinOverTheRatioAsInTransformers() throws {
    var c = TrainConfig.fixture
    c.warmupSteps = 5; c.warmupRatio = 0.5
    #expect(try c.schedule(totalSteps: 20).warmupSteps == 5)
    c.warmupSteps = 0
    #expect(try c.schedule(totalSteps: 20).warmupSteps == 10)
    c.warmupRatio = 0
    #expect(try c.schedule(totalSteps: 20).warmupSteps == 0)
}
