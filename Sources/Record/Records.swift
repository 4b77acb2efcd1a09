import Foundation

public enum RunKind: String, Sendable, CaseIterable {
    /// `tunelab run NOTEBOOK`; `replay` of a run; `resume` (unused since v3); the REPL;
    /// `command`: `tunelab train/generate/score/merge`; `branch`: `tunelab branch`.
    case run, replay, resume, repl, command, branch
}

public enum RunStatus: String, Sendable, CaseIterable {
    case running, completed, failed, interrupted
}

public enum CellOutcome: String, Sendable, CaseIterable {
    case ok, error, interrupted
}

/// Where and with what a run executed; stored on the `runs` row.
public struct RunEnvironment: Sendable, Equatable {
    public var toolVersion: String?
    public var gitCommit: String?
    public var hostCPU: String?
    public var threads: Int?
    public var blas: String?
    /// Anything else worth keeping (OS, BLAS core name, env variables…), stored as `env_json`.
    public var extra: [String: String]

    public init(toolVersion: String? = nil, gitCommit: String? = nil, hostCPU: String? = nil,
                threads: Int? = nil, blas: String? = nil, extra: [String: String] = [:]) {
        self.toolVersion = toolVersion
        self.gitCommit = gitCommit
        self.hostCPU = hostCPU
        self.threads = threads
        self.blas = blas
        self.extra = extra
    }
}

extension RunEnvironment {
    /// This machine's CPU model ("model name" in /proc/cpuinfo), for `hostCPU`; nil elsewhere.
    public static let hostCPUModel: String? = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }()
}

/// One line of `listRuns`.
public struct RunSummary: Sendable {
    public let id: Int64
    public let notebookPath: String?
    public let kind: RunKind
    public let status: RunStatus
    public let parentRunID: Int64?
    public let startedAt: Date
    public let endedAt: Date?
    /// Highest step that logged `loss` (nil when none did).
    public let lastStep: Int?
    /// `loss` / `eval_loss` at the last step that logged them.
    public let finalLoss: Double?
    public let finalEvalLoss: Double?
    /// The resolved parameters of the run's key cells (by default its `train` cells), merged in
    /// cell order: what tells runs apart in listings and plot legends.
    public let params: [String: String]
    /// The command line of a `command` run (`tunelab train --lr 1e-4 …`).
    public var command: String? = nil
}

/// Everything `tunelab show RUN` and `replay` need about one run.
public struct RunDetail: Sendable {
    public let summary: RunSummary
    public let notebookSHA256: String?
    public let notebookTitle: String?
    public let environment: RunEnvironment
    public let error: String?
    public let pid: Int32?
    public let host: String?
    public let cells: [CellRecord]
    public let metricNames: [String]
}

public struct CellRecord: Sendable {
    public let id: Int64
    public let runID: Int64
    public let index: Int
    public let kind: String
    /// Fully resolved parameters, defaults included, each value in canonical text form.
    public let params: [String: String]
    public let seed: UInt64?
    /// File path → sha256 hex of every model / data / template file the cell read.
    public let files: [String: String]
    public let startedAt: Date
    public let durationSeconds: Double?
    /// nil while the cell is still running.
    public let outcome: CellOutcome?
    public let error: String?
    /// Parameters the session changed from the notebook (`--set`, `:set`), canonical text.
    public let changes: [String: String]
    /// Structured facts about how the cell ended (a divergence's step, rows and tensor, …).
    public var details: [String: String] = [:]
}

public struct GenerationRecord: Sendable, Equatable {
    public let cellID: Int64
    public let prompt: String
    public let settings: [String: String]
    public let output: String
    public let nTokens: Int
    public let stoppedOnEOS: Bool
    public let tokensPerSecond: Double?
    /// The generated token ids (nil for generations recorded before schema v3).
    public var outputIDs: [Int]? = nil
}

public struct ArtifactRecord: Sendable, Equatable {
    public let cellID: Int64
    public let path: String
    public let kind: String
    public let sha256: String?
    public let bytes: Int64?
}

/// One GRPO completion as recorded (table `completions`).
public struct CompletionRecord: Sendable, Equatable {
    public var cellID: Int64
    /// The optimiser step that generated it (1-based).
    public var step: Int
    public var row: Int
    /// Its place in the prompt's group (0-based).
    public var generation: Int
    public var seed: UInt64
    public var prompt: String
    public var completion: String
    public var completionIDs: [Int]
    public var stoppedOnEOS: Bool
    /// Each reward function's value, by name.
    public var rewards: [String: Double]
    public var reward: Double
    public var advantage: Double

    public init(cellID: Int64, step: Int, row: Int, generation: Int, seed: UInt64, prompt: String, completion: String,
                completionIDs: [Int], stoppedOnEOS: Bool, rewards: [String: Double], reward: Double, advantage: Double) {
        self.cellID = cellID; self.step = step; self.row = row; self.generation = generation; self.seed = seed
        self.prompt = prompt; self.completion = completion; self.completionIDs = completionIDs; self.stoppedOnEOS = stoppedOnEOS
        self.rewards = rewards; self.reward = reward; self.advantage = advantage
    }

    /// Equal when every field is, bit for bit (a NaN matching a NaN): what a replay checks.
    public static func == (a: CompletionRecord, b: CompletionRecord) -> Bool {
        func same(_ x: Double, _ y: Double) -> Bool { x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN) }
        return a.step == b.step && a.row == b.row && a.generation == b.generation && a.seed == b.seed && a.prompt == b.prompt
            && a.completion == b.completion && a.completionIDs == b.completionIDs && a.stoppedOnEOS == b.stoppedOnEOS
            && a.rewards.keys.sorted() == b.rewards.keys.sorted() && a.rewards.allSatisfy { same($0.value, b.rewards[$0.key]!) }
            && same(a.reward, b.reward) && same(a.advantage, b.advantage)
    }
}
