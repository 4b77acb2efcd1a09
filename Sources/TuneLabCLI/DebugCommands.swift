import ArgumentParser
import Foundation
import Record

/// Writes metric batches forever through the real MetricWriter, printing one line per
/// committed batch: the crash-safety test kills it with SIGKILL at random moments.
struct DebugMetricsWriter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "debug-metrics-writer", shouldDisplay: false)
    @Option var db: String
    @Option var batch = 50

    func run() throws {
        let store = try ExperimentDB(path: db)
        let run = try store.createRun(environment: RunEnvironment(toolVersion: TuneLab.version))
        let cell = try store.startCell(runID: run, cellIndex: 0, kind: "train")
        print("cell \(cell)"); fflush(stdout)
        let writer = store.metricWriter(runID: run, cellID: cell, batchSize: 3 * batch + 1, interval: 1e9)
        var step = 0
        while true {
            for _ in 0..<batch {
                try writer.add(step: step, ["loss": Double(step) * 0.25, "grad_norm": Double(step) * 0.25 + 1, "lr": Double(step) * 0.25 + 2])
                step += 1
            }
            try writer.flush()
            print("committed \(step)"); fflush(stdout)
        }
    }
}
