import Foundation
import Testing
import Dataset
import Kernels
import Metrics
import Notebook
import Training
@testable import Session

/// Every schema key and choice goes through the cell that uses it: what the schema accepts the
/// cell accepts, what the schema's range excludes is refused naming the key, and the choices
/// are the cases of the enums the cells parse them into.
@Suite struct CellSchemaTests {
    /// The smallest parameters that make each kind buildable on its own.
    /// (grpo: groups of 2, so batch_size 1 or grad_accum 1 still make whole groups.)
    static let required: [CellKind: [String: ParamValue]] = [.score: ["text": .string("x")], .grpo: ["num_generations": .int(2)]]
    /// A PEFT adapter folder in the fixtures (for keys that need one).
    static let adapterFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/lora_parity").path

    func build(_ kind: CellKind, _ overrides: [String: ParamValue]) throws {
        let cell = Cell(index: 1, kind: kind, params: [], source: "test")
        let values = (Self.required[kind] ?? [:]).merging(overrides) { _, new in new }
        _ = try makeCell(try cell.resolve(overrides: values), state: SessionState(notebook: nil))
    }

    @Test func defaultsBuildEveryKind() throws {
        for kind in CellKind.allCases { try build(kind, [:]) }
    }

    @Test func everyChoiceBuildsItsCell() throws {
        var tried = 0
        for kind in CellKind.allCases {
            for spec in CellSchema.params(for: kind) where !spec.choices.isEmpty {
                for choice in spec.choices {
                    var o: [String: ParamValue] = [spec.key: spec.type == .stringArray ? .array([.string(choice)]) : .string(choice)]
                    if kind == .format && spec.key == "format" && choice == "mapping" { o["columns"] = .string("question=q,answer=a") }
                    if kind == .export && spec.key == "dtype" { o["merge"] = .bool(true) }
                    if spec.key == "compute_dtype" && choice == "bf16" && BF16.unavailableReason != nil { continue }
                    if (kind == .dpo || kind == .grpo) && spec.key == "reference" && choice == "adapter" { o["adapter"] = .string(Self.adapterFolder) }
                    if kind == .grpo && spec.key == "reference" && choice == "adapter" { o["beta"] = .double(0.04) }
                    do { try build(kind, o) } catch { Issue.record("\(kind.rawValue).\(spec.key) = \(choice): \(error)") }
                    tried += 1
                }
            }
        }
        #expect(tried >= 20)
    }

    @Test func choicesAreTheEnumsCases() {
        func choices(_ k: CellKind, _ key: String) -> [String] { CellSchema.spec(k, key)!.choices }
        #expect(choices(.train, "compute_dtype") == ComputeDType.allCases.map(\.rawValue))
        #expect(choices(.train, "scheduler") == LRSchedule.Kind.allCases.map(\.rawValue))
        #expect(choices(.train, "targets") == LoRATarget.allCases.map(\.rawValue))
        #expect(choices(.format, "format") == RecordLayout.allCases.map(\.rawValue))
        #expect(choices(.format, "train_on") == TrainOn.allCases.map(\.rawValue))
        #expect(choices(.export, "dtype") == MergeDType.allCases.map(\.rawValue))
        #expect(choices(.eval, "split") == EvalSplit.allCases.map(\.rawValue))
        #expect(choices(.dpo, "layout") == PreferenceLayout.allCases.map(\.rawValue))
        #expect(choices(.dpo, "loss_type") == DPOLossType.allCases.map(\.rawValue))
        #expect(choices(.dpo, "reference") == ReferenceModel.allCases.map(\.rawValue))
        #expect(choices(.grpo, "loss_type") == GRPOLossType.allCases.map(\.rawValue))
        #expect(choices(.grpo, "rewards") == BuiltinReward.allCases.map(\.rawValue))
        #expect(choices(.grpo, "answer_mode") == AnswerMatch.allCases.map(\.rawValue))
        #expect(choices(.grpo, "reference") == ReferenceModel.allCases.map(\.rawValue))
        // Keys dpo and grpo share with train keep train's type, range and choices.
        for kind in [CellKind.dpo, .grpo] {
            for key in ["r", "lora_alpha", "targets", "batch_size", "lr", "scheduler", "compute_dtype", "seed"] {
                let a = CellSchema.spec(.train, key)!, b = CellSchema.spec(kind, key)!
                #expect(a.type == b.type && a.min == b.min && a.max == b.max && a.choices == b.choices, "\(kind) \(key)")
            }
        }
        // Every built-in reward has its weight key.
        for r in BuiltinReward.allCases { #expect(CellSchema.spec(.grpo, r.rawValue + "_weight") != nil, "\(r.rawValue)_weight") }
    }

    /// Each numeric bound: the bound itself is accepted (unless exclusive), one step past it is
    /// refused with the key named — by the schema, so the cell never sees it.
    @Test func everyRangeIsEnforcedAtItsBound() throws {
        var checked = 0
        for kind in CellKind.allCases {
            for spec in CellSchema.params(for: kind) where spec.type == .int || spec.type == .double {
                func value(_ d: Double) -> ParamValue { spec.type == .int ? .int(Int(d)) : .double(d) }
                let eps = spec.type == .int ? 1.0 : 1e-9
                if let lo = spec.min {
                    if !spec.minExclusive {
                        do { try build(kind, [spec.key: value(lo)]) } catch { Issue.record("\(kind.rawValue).\(spec.key) = \(lo) refused: \(error)") }
                    }
                    let below = spec.minExclusive ? lo : lo - eps
                    do { try build(kind, [spec.key: value(below)]); Issue.record("\(kind.rawValue).\(spec.key) = \(below) accepted") }
                    catch { #expect("\(error)".hasPrefix("\(kind.rawValue).\(spec.key): must be"), "\(error)") }
                    checked += 1
                }
                if let hi = spec.max {
                    do { try build(kind, [spec.key: value(hi)]) } catch { Issue.record("\(kind.rawValue).\(spec.key) = \(hi) refused: \(error)") }
                    do { try build(kind, [spec.key: value(hi + eps)]); Issue.record("\(kind.rawValue).\(spec.key) = \(hi + eps) accepted") }
                    catch { #expect("\(error)".hasPrefix("\(kind.rawValue).\(spec.key): must be at most"), "\(error)") }
                    checked += 1
                }
            }
        }
        #expect(checked >= 25)
    }

    /// The defaults a train cell builds are the schema's (no second default anywhere).
    @Test func trainConfigComesFromTheSchema() throws {
        let c = try CellConfigs.train([:])
        func d(_ key: String) -> ParamValue { CellSchema.spec(.train, key)!.defaultValue }
        #expect(c.lr == d("lr").doubleValue && c.batchSize == d("batch_size").intValue && c.gradAccum == d("grad_accum").intValue)
        #expect(c.lora.rank == d("r").intValue && c.lora.alpha == d("lora_alpha").doubleValue)
        #expect(c.maxSteps == d("max_steps").intValue && c.warmupSteps == d("warmup_steps").intValue && c.seed == UInt64(d("seed").intValue!))
        #expect(c.scheduler.rawValue == d("scheduler").stringValue && c.computeDType.rawValue == d("compute_dtype").stringValue)
        let changed = try CellConfigs.train(["lr": .double(1e-3), "targets": .array([.string("q"), .string("v")])])
        #expect(changed.lr == 1e-3 && changed.lora.targets == [.q, .v])
    }

    /// Cross-key checks name the key and, from the command line, the flag.
    @Test func combinationsAreRefusedNamingTheKeyOrFlag() throws {
        func refusal(_ kind: CellKind, _ o: [String: ParamValue], flags: [String: String] = [:]) -> String {
            let cell = Cell(index: 1, kind: kind, params: [], source: "test")
            do { _ = try makeCell(try cell.resolve(overrides: o, flags: flags), state: SessionState(notebook: nil)); return "accepted" }
            catch { return "\(error)" }
        }
        #expect(refusal(.train, ["targets": .array([.string("q"), .string("q")])]).hasPrefix("train.targets: \"q\" is listed twice"))
        #expect(refusal(.train, ["resume": .string("/nonexistent/ckpt")], flags: ["resume": "--resume"]).hasPrefix("--resume (train.resume): /nonexistent/ckpt: not a checkpoint folder"))
        #expect(refusal(.infer, ["chat": .bool(true), "question": .string("q")]).hasPrefix("infer.chat:"))
        #expect(refusal(.infer, ["system": .string("s")]).hasPrefix("infer.system:"))
        #expect(refusal(.infer, ["rows": .string("3:1")]).hasPrefix("infer.rows:"))
        #expect(refusal(.score, ["text": .string("")]).hasPrefix("score.text:"))
        #expect(refusal(.score, ["file": .string("/nonexistent.txt")]).hasPrefix("score.file:"))
        #expect(refusal(.export, ["adapter": .string("none")]).hasPrefix("export.adapter:"))
        #expect(refusal(.infer, ["adapter": .string("/nonexistent")]).contains("not an adapter folder"))
        #expect(refusal(.dpo, ["reference": .string("adapter")]).hasPrefix("dpo.reference:"))
        #expect(refusal(.dpo, ["loss_type": .string("ipo"), "label_smoothing": .double(0.1)]).hasPrefix("dpo.label_smoothing:"))
        #expect(refusal(.dpo, ["template": .string("t.txt")]).hasPrefix("dpo.template: a prompt template is used only with chat_template = false"))
        #expect(refusal(.dpo, ["chat_template": .bool(false)]).hasPrefix("dpo.template: empty"))
        #expect(refusal(.dpo, ["max_length": .int(64), "max_prompt_length": .int(64)]).hasPrefix("dpo.max_prompt_length:"))
        #expect(refusal(.dpo, ["targets": .array([])]).hasPrefix("dpo.targets: empty"))
        #expect(refusal(.dpo, ["resume": .string("/nonexistent")]).hasPrefix("dpo.resume:"))
        #expect(refusal(.grpo, ["num_generations": .int(3)]).hasPrefix("grpo.num_generations: 3 does not divide"))
        #expect(refusal(.grpo, ["reference": .string("adapter"), "adapter": .string(Self.adapterFolder)]).hasPrefix("grpo.reference: with beta = 0"))
        #expect(refusal(.grpo, ["rewards": .array([])]).hasPrefix("grpo.rewards: empty, and no reward_command"))
        #expect(refusal(.grpo, ["rewards": .array([.string("length"), .string("length")])]).hasPrefix("grpo.rewards: \"length\" is listed twice"))
        #expect(refusal(.grpo, ["prompt": .string("no placeholder")]).hasPrefix("grpo.prompt: has no {column}"))
        #expect(refusal(.grpo, ["prompt": .string("{question")]).hasPrefix("grpo.prompt:"))
        #expect(refusal(.grpo, ["chat_template": .bool(false), "system": .string("s")]).hasPrefix("grpo.system:"))
        #expect(refusal(.grpo, ["reward_command": .string("no-such-program-xyz score.py")]).hasPrefix("grpo.reward_command: no-such-program-xyz: no such program on PATH"))
        #expect(refusal(.grpo, ["reward_command": .string("sh /nonexistent/score.sh")]).hasPrefix("grpo.reward_command: /nonexistent/score.sh: no such file"))
        #expect(refusal(.grpo, ["reward_command": .string("python3 score.py | sort")]).hasPrefix("grpo.reward_command: python3 score.py | sort: '|' needs a shell"))
        #expect(refusal(.grpo, ["resume": .string("/nonexistent")]).hasPrefix("grpo.resume:"))
    }

    /// A notebook's cell error names the file and the line of the key.
    @Test func notebookErrorsNameFileAndLine() throws {
        let nb = try Notebook(text: "# t\n\n```train\nr = 4\ntargets = [\"q\", \"q\"]\n```\n", path: "x.md")
        let p = try nb.cells[0].resolve()
        do { _ = try makeCell(p, state: SessionState(notebook: nb)); Issue.record("accepted") }
        catch { #expect("\(error)".hasPrefix("x.md:5: train.targets: \"q\" is listed twice"), "\(error)") }
    }
}
