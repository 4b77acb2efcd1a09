import Dataset
import Metrics
import Training

/// Every cell kind's parameters: type, default, range, choices and one-line help. This is the
/// single place a key is defined: notebooks, the REPL, `--set`, the command-line flags of
/// `tunelab train/generate/score/merge`, completion and `:help` all read it, and each cell type
/// (`Session/Cells`) builds its typed configuration from the resolved values. Adding a key is one
/// line here plus its use in the cell.
public enum CellSchema {
    public static func params(for kind: CellKind) -> [ParamSpec] {
        switch kind {
        case .load: return load
        case .format: return format
        case .train: return train
        case .infer: return infer
        case .eval: return eval
        case .score: return score
        case .export: return export
        case .dpo: return dpo
        case .grpo: return grpo
        }
    }

    public static func spec(_ kind: CellKind, _ key: String) -> ParamSpec? {
        params(for: kind).first { $0.key == key }
    }

    /// One line per kind for `:help`.
    public static func summary(of kind: CellKind) -> String {
        switch kind {
        case .load: return "load a base model"
        case .format: return "load a data set, apply the prompt template, tokenise, split"
        case .train: return "LoRA fine-tuning"
        case .infer: return "generate an answer (with the session's adapter by default)"
        case .eval: return "loss on the validation (or training) examples, base and adapter"
        case .score: return "mean negative log-likelihood per token and perplexity of a text"
        case .export: return "save the adapter, or the model with it merged, as safetensors (PEFT / Hugging Face) or GGUF (llama.cpp, Ollama), read back and checked"
        case .dpo: return "DPO on preference pairs (prompt, chosen, rejected) against the reference model, as TRL"
        case .grpo: return "GRPO: sample groups of completions per prompt, reward them, train on group-normalised advantages, as TRL"
        }
    }

    // Choices come from the enums the cells parse them into, so a new case is a new choice.
    static let load: [ParamSpec] = [
        .init("model", .string("default"), "a .gguf file, a Hugging Face model folder, hf:org/name[@revision], or 'default'"),
        .init("threads", .int(0), "worker threads (0 = all cores); results do not depend on it", min: 0),
    ]

    static let format: [ParamSpec] = [
        .init("data", .string("notebooks/data/medical-cot-sample.jsonl"), "data file (path, or hf:org/name/file)"),
        .init("format", .string("auto"), "record layout", choices: RecordLayout.allCases.map(\.rawValue)),
        .init("columns", .string(""), "for format = \"mapping\": role=column pairs (roles question, cot, answer, system), e.g. \"question=instruction,cot=think,answer=answer\""),
        .init("split", .string(""), "slice of the rows, e.g. \"train[0:100]\" (empty = all)"),
        .init("template", .string("notebooks/templates/medical-cot.txt"), "prompt template file"),
        .init("template_text", .string(""), "inline template (overrides template)"),
        .init("max_seq_length", .int(512), "longest tokenised example (longer ones are truncated)", min: 8),
        .init("train_on", .string("response"), "which tokens carry loss", choices: TrainOn.allCases.map(\.rawValue)),
        .init("packing", .bool(false), "pack several examples into one sequence"),
        .init("val_fraction", .double(0.1), "fraction held out for validation (0 = none)", min: 0, max: 0.9),
        .init("seed", .int(3407), "seed of the shuffle and split", min: 0),
    ]

    static let train: [ParamSpec] = [
        .init("r", .int(16), "LoRA rank", min: 1),
        .init("lora_alpha", .double(16), "LoRA scaling numerator (scale = alpha / r, or alpha / sqrt(r) with rslora)", min: 0, minExclusive: true),
        .init("lora_dropout", .double(0.0), "dropout on the LoRA input", min: 0, max: 0.99),
        .init("use_rslora", .bool(false), "rank-stabilised scaling alpha / sqrt(r)"),
        .init("targets", .array(LoRATarget.allCases.map { .string($0.rawValue) }), "projections that get adapters",
              choices: LoRATarget.allCases.map(\.rawValue)),
        .init("batch_size", .int(2), "sequences per micro-batch", min: 1),
        .init("grad_accum", .int(4), "micro-batches per optimiser step", min: 1),
        .init("lr", .double(2e-4), "peak learning rate", min: 0, minExclusive: true),
        .init("scheduler", .string("linear"), "learning-rate schedule", choices: LRSchedule.Kind.allCases.map(\.rawValue)),
        .init("warmup_steps", .int(5), "linear warm-up steps (when > 0 it wins over warmup_ratio, as in transformers)", min: 0),
        .init("warmup_ratio", .double(0.0), "warm-up as a fraction of all steps (used only when warmup_steps = 0)", min: 0, max: 1),
        .init("max_steps", .int(60), "optimiser steps (0 = use epochs)", min: 0),
        .init("epochs", .int(1), "passes over the training data (when max_steps = 0)", min: 1),
        .init("weight_decay", .double(0.01), "AdamW weight decay", min: 0),
        .init("max_grad_norm", .double(1.0), "gradient clipping norm (0 = off)", min: 0),
        .init("seed", .int(3407), "seed of LoRA init, dropout and batch order", min: 0),
        .init("eval_every", .int(0), "validation loss every N steps (0 = only at the end)", min: 0),
        .init("save_every", .int(20), "checkpoint every N steps (0 = only at the end)", min: 0),
        .init("out", .string(""), "output folder (empty = runs/run-<id>-cell<n>)"),
        .init("gradient_checkpointing", .bool(false), "recompute activations in backward to save memory"),
        .init("compute_dtype", .string("fp32"), "frozen base products: fp32, or bf16 with fp32 accumulation (~1.5x faster on AVX512-BF16/AMX CPUs)",
              choices: ComputeDType.allCases.map(\.rawValue)),
        .init("resume", .string(""), "checkpoint folder to resume from (same settings; `tunelab branch` changes them)"),
        .init("plot", .bool(true), "write the loss curves PNG at the end"),
        .init("ignore_lint", .bool(false), "train even when the format cell's lint found errors (e.g. no row keeps its EOS)"),
    ]

    static let infer: [ParamSpec] = [
        .init("question", .string(""), "question, formatted with the session's template (or the chat template when no format cell ran)"),
        .init("rows", .string("0"), "with no question or prompt: the validation rows to ask, \"N\" or a range \"A:B\" (e.g. \"0:16\")"),
        .init("prompt", .string(""), "raw prompt text (overrides question)"),
        .init("chat", .bool(false), "wrap prompt as a user turn with the model's own chat template"),
        .init("system", .string(""), "system message (with chat = true)"),
        .init("adapter", .string("auto"), "auto (this session's adapter, if any) | none | an adapter folder"),
        .init("max_new_tokens", .int(256), "longest answer in tokens", min: 1),
        .init("temperature", .double(0.0), "sampling temperature (0 = greedy)", min: 0),
        .init("top_k", .int(0), "keep the k most likely tokens (0 = off)", min: 0),
        .init("top_p", .double(1.0), "nucleus sampling mass (1 = off)", min: 0, max: 1, minExclusive: true),
        .init("repetition_penalty", .double(1.0), "penalty on tokens already generated (1 = off)", min: 0, minExclusive: true),
        .init("seed", .int(0), "sampling seed", min: 0),
        .init("stop", .array([]), "stop when one of these texts appears"),
        .init("ignore_eos", .bool(false), "keep generating past end-of-turn tokens"),
    ]

    static let eval: [ParamSpec] = [
        .init("split", .string("validation"), "which examples of the format cell: validation or train (loss only)", choices: EvalSplit.allCases.map(\.rawValue)),
        .init("max_rows", .int(0), "evaluate at most this many examples (0 = all)", min: 0),
        .init("metrics", .array([.string("loss")]), "loss (teacher-forced), and scores of generated answers: bleu4, rouge1/2/L (as LLaMA-Factory), think_format, stops_on_eos, mean_length, accuracy",
              choices: EvalMetric.allCases.map(\.rawValue)),
        .init("adapter", .string("auto"), "for generated answers: auto (this session's adapter, if any) | none | an adapter folder"),
        .init("max_new_tokens", .int(256), "longest generated answer in tokens", min: 1),
        .init("temperature", .double(0.0), "sampling temperature of generated answers (0 = greedy)", min: 0),
        .init("top_p", .double(1.0), "nucleus sampling mass (1 = off)", min: 0, max: 1, minExclusive: true),
        .init("seed", .int(0), "sampling seed (row i uses seed + i)", min: 0),
        .init("batch", .int(8), "answers generated together (one matrix product per layer for the batch)", min: 1),
    ]

    static let score: [ParamSpec] = [
        .init("text", .string(""), "the text to score"),
        .init("file", .string(""), "a UTF-8 file to score instead of text"),
        .init("adapter", .string("auto"), "auto (this session's adapter, if any) | none | an adapter folder"),
    ]

    static let export: [ParamSpec] = [
        .init("adapter", .string("auto"), "auto (this session's adapter) | an adapter folder"),
        .init("out", .string(""), "output folder (empty = runs/run-<id>-export)"),
        .init("merge", .bool(false), "merge the adapter into the base weights (a model, not an adapter)"),
        .init("format", .string("safetensors"), "safetensors: a PEFT adapter folder, or with merge a Hugging Face model folder; gguf: a GGUF LoRA for llama.cpp's --lora, or with merge a GGUF model (llama.cpp, Ollama)",
              choices: ExportFormat.allCases.map(\.rawValue)),
        .init("dtype", .string("f32"), "weight type of merged tensors in a Hugging Face folder", choices: MergeDType.allCases.map(\.rawValue)),
        .init("quant", .string("f16"), "matrix type of a merged GGUF (norms and biases stay f32; q4_0 everywhere, as llama-quantize --pure)",
              choices: GGUFQuant.allCases.map(\.rawValue)),
        .init("modelfile", .bool(true), "write an Ollama Modelfile next to a merged GGUF (template and stop tokens from the model's chat template)"),
        .init("check", .bool(true), "read the export back and compare: GGUF model logits and greedy tokens against the base + adapter, GGUF LoRA tensors exactly"),
        .init("force", .bool(false), "replace existing output files"),
    ]
}

extension CellSchema {
    /// A key that another kind defines (its type, range, choices and help stay there), here with
    /// another default or help.
    static func shared(_ kind: [ParamSpec], _ key: String, _ defaultValue: ParamValue? = nil, help: String? = nil) -> ParamSpec {
        guard let s = kind.first(where: { $0.key == key }) else { preconditionFailure("CellSchema: no key \(key) to share") }
        return ParamSpec(key, defaultValue ?? s.defaultValue, help ?? s.help, choices: s.choices, min: s.min, max: s.max,
                         minExclusive: s.minExclusive)
    }

    /// `dpo`: the data keys of its own, the loss (TRL's names and defaults), and the optimisation
    /// keys of `train` (same meaning; `batch_size` counts pairs).
    static let dpo: [ParamSpec] = [
        .init("data", .string("notebooks/data/preference-sample.jsonl"), "preference pairs, JSON or JSONL (path, or hf:org/name/file)"),
        .init("layout", .string("auto"), "record layout: prompt/chosen/rejected, or ShareGPT conversations + chosen/rejected",
              choices: PreferenceLayout.allCases.map(\.rawValue)),
        shared(format, "split"),
        .init("chat_template", .bool(true), "format the prompt with the model's own chat template (false: with template)"),
        .init("template", .string(""), "with chat_template = false: a prompt template file; its part before the first response placeholder formats {Question} (the prompt) and {System}"),
        .init("max_length", .int(1024), "longest prompt + completion in tokens (a completion's end is cut; counted per side)", min: 2),
        .init("max_prompt_length", .int(512), "longest prompt in tokens (its start is cut; max_length/2 when left at 512 and max_length is not larger); 0 = no limit, then a prompt leaving no room within max_length is an error", min: 0),
        shared(format, "val_fraction", .double(0)),
        .init("beta", .double(0.1), "β: how far the policy may move from the reference (the KL penalty's inverse weight)", min: 0, minExclusive: true),
        .init("loss_type", .string("sigmoid"), "per-pair loss, as TRL v0.28", choices: DPOLossType.allCases.map(\.rawValue)),
        .init("label_smoothing", .double(0), "cDPO ε of the sigmoid loss: the share of pairs assumed flipped (TRL <= 0.28)", min: 0, max: 0.49),
        .init("reference", .string("base"), "the reference: base (the adapter disabled) or the starting adapter, frozen",
              choices: ReferenceModel.allCases.map(\.rawValue)),
        .init("adapter", .string("none"), "none (a fresh adapter) | auto (this session's adapter, from a train cell) | an adapter folder to start from (its r, lora_alpha, targets)"),
        shared(train, "r"), shared(train, "lora_alpha"), shared(train, "lora_dropout"), shared(train, "use_rslora"),
        shared(train, "targets"),
        shared(train, "batch_size", help: "preference pairs per micro-batch (each is two sequences)"),
        shared(train, "grad_accum"),
        shared(train, "lr", .double(5e-6)),
        shared(train, "scheduler"), shared(train, "warmup_steps"), shared(train, "warmup_ratio"), shared(train, "max_steps"),
        shared(train, "epochs"), shared(train, "weight_decay"), shared(train, "max_grad_norm"),
        shared(train, "seed", help: "seed of LoRA init, dropout, pair order and the validation split"),
        shared(train, "eval_every"), shared(train, "save_every"), shared(train, "out"), shared(train, "gradient_checkpointing"),
        shared(train, "compute_dtype"),
        shared(train, "resume", help: "DPO checkpoint folder to resume from (same settings)"),
        shared(train, "plot", help: "write the loss and reward curves PNGs at the end"),
    ]
}

extension CellSchema {
    /// `grpo`: prompts (data keys of its own), sampling, rewards, the loss (TRL v1.9.0's names and
    /// defaults), and the optimisation keys of `train` (`batch_size` counts completions).
    static let grpo: [ParamSpec] = [
        .init("data", .string("notebooks/data/grpo-sample.jsonl"), "prompt rows, JSON or JSONL (path, or hf:org/name/file); the rewards read their other columns"),
        shared(format, "split"),
        .init("prompt", .string("{question}\n\n{options}"), "the prompt text: {column} placeholders ({{ }} for braces); an object column such as {options} becomes 'A. text' lines"),
        .init("system", .string(""), "a system message before the prompt (with chat_template = true)"),
        .init("chat_template", .bool(true), "wrap system + prompt in the model's own chat template with its generation prompt (false: the prompt text as it is)"),
        .init("max_prompt_length", .int(512), "longest prompt in tokens; a longer prompt is an error naming its row", min: 1),
        .init("num_generations", .int(8), "completions sampled per prompt (a group: advantages compare them)", min: 2),
        .init("max_completion_length", .int(256), "longest completion in tokens, its end token included (also dr_grpo's normaliser)", min: 1),
        .init("temperature", .double(1.0), "sampling temperature; log-probs are taken at it too (logits / T, as TRL)", min: 0, minExclusive: true),
        .init("top_k", .int(0), "sample from the k most likely tokens (0 = off)", min: 0),
        .init("top_p", .double(1.0), "nucleus sampling mass (1 = off)", min: 0, max: 1, minExclusive: true),
        .init("generation_batch", .int(0), "completions decoded together (0 = all of a step's, 1 = one at a time); results do not depend on it", min: 0),
        .init("rewards", .array([.string(BuiltinReward.thinkFormat.rawValue), .string(BuiltinReward.answerMatch.rawValue)]),
              "built-in rewards (think_format: TRL's regex; answer_match: the answer after </think>; length: a penalty past length_target)",
              choices: BuiltinReward.allCases.map(\.rawValue)),
        .init("think_format_weight", .double(1.0), "weight of the think_format reward in the sum the advantages normalise"),
        .init("answer_match_weight", .double(1.0), "weight of the answer_match reward"),
        .init("length_weight", .double(1.0), "weight of the length reward"),
        .init("command_weight", .double(1.0), "weight of the reward_command's reward"),
        .init("answer_mode", .string(AnswerMatch.choice.rawValue), "answer_match: the chosen option letter (MedQA rows), the exact text, or SQuAD-normalised text",
              choices: AnswerMatch.allCases.map(\.rawValue)),
        .init("answer_column", .string("answer_idx"), "answer_match: the row's gold answer (the option letter with answer_mode = choice)"),
        .init("options_column", .string("options"), "answer_match with answer_mode = choice: the row's options object (letter → text)"),
        .init("length_target", .int(192), "length reward: 0 up to this many completion tokens", min: 0),
        .init("length_cache", .int(64), "length reward: falls linearly to -1 over this many more tokens (DAPO's soft overlong punishment)", min: 0),
        .init("reward_command", .string(""), "a program that scores completions, e.g. \"python3 my_reward.py\": JSON lines {prompt, completion, row, row_index} on stdin, one number per line on stdout (run without a shell; its files are hashed into the record)"),
        .init("reward_timeout", .double(60), "seconds the reward command may take for one step's completions", min: 0, minExclusive: true),
        .init("loss_type", .string(GRPOLossType.dapo.rawValue), "how token losses are normalised, as TRL v1.9.0 (dapo is its default)",
              choices: GRPOLossType.allCases.map(\.rawValue)),
        .init("epsilon", .double(0.2), "clip the probability ratio below at 1 - epsilon", min: 0, max: 0.99, minExclusive: true),
        .init("epsilon_high", .double(0), "clip it above at 1 + epsilon_high (0 = epsilon, as TRL's None; DAPO uses 0.28)", min: 0),
        .init("beta", .double(0), "weight of the KL penalty to the reference (0 = none, TRL's default: no reference forward)", min: 0),
        .init("num_iterations", .int(1), "optimiser steps per generated batch (TRL's mu; > 1 makes the clip act)", min: 1),
        .init("reference", .string("base"), "the KL's reference (beta > 0): base (the adapter disabled) or the starting adapter, frozen",
              choices: ReferenceModel.allCases.map(\.rawValue)),
        .init("adapter", .string("none"), "none (a fresh adapter) | auto (this session's adapter, from a train cell) | an adapter folder to start from (its r, lora_alpha, targets)"),
        shared(train, "r"), shared(train, "lora_alpha"), shared(train, "lora_dropout"), shared(train, "use_rslora"),
        shared(train, "targets"),
        shared(train, "batch_size", .int(4), help: "completions per micro-batch (batch_size × grad_accum completions make a step: whole groups)"),
        shared(train, "grad_accum", .int(2)),
        shared(train, "lr", .double(1e-6)),
        shared(train, "scheduler"), shared(train, "warmup_steps", .int(0)), shared(train, "warmup_ratio"),
        shared(train, "max_steps", .int(20)), shared(train, "epochs"), shared(train, "weight_decay"), shared(train, "max_grad_norm"),
        shared(train, "seed", help: "seed of LoRA init, dropout, prompt order and every completion's sampling seed"),
        shared(train, "save_every"), shared(train, "out"), shared(train, "gradient_checkpointing"), shared(train, "compute_dtype"),
        shared(train, "resume", help: "GRPO checkpoint folder to resume from (same settings)"),
        shared(train, "plot", help: "write the loss and reward curves PNGs at the end"),
    ]
}

/// Which examples an eval cell scores.
public enum EvalSplit: String, CaseIterable, Sendable {
    case validation, train
}

/// The type a parameter accepts; the default value's type decides it.
public enum ParamType: Sendable, Equatable {
    case string, int, double, bool, stringArray

    public var name: String {
        switch self {
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a number"
        case .bool: return "a boolean (true or false)"
        case .stringArray: return "an array of strings"
        }
    }
}

public struct ParamSpec: Sendable {
    public let key: String
    public let defaultValue: ParamValue
    public let help: String
    /// Allowed values (for arrays: allowed elements); empty = any.
    public let choices: [String]
    /// Inclusive numeric bounds.
    public let min: Double?
    public let max: Double?
    /// The lower bound itself is not allowed (lr > 0).
    public let minExclusive: Bool

    public var type: ParamType {
        switch defaultValue {
        case .string: return .string
        case .int: return .int
        case .double: return .double
        case .bool: return .bool
        case .array, .table: return .stringArray
        }
    }

    init(_ key: String, _ defaultValue: ParamValue, _ help: String, choices: [String] = [], min: Double? = nil, max: Double? = nil,
         minExclusive: Bool = false) {
        self.minExclusive = minExclusive
        self.key = key
        self.defaultValue = defaultValue
        self.help = help
        self.choices = choices
        self.min = min
        self.max = max
    }
}
