import Foundation
import Kernels
import ModelFiles
import Testing
import Training
@testable import Session

/// Settings no machine could train with are refused before anything is allocated, naming the
/// setting; ordinary ones pass.
@Suite struct MemoryCheckTests {
    static let config: ModelConfig = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tiny-llama3/config.json").path
        return try! ModelConfig.fromHF(configPath: path)
    }()

    @Test func hugeBatchOrRankIsAnError() throws {
        let lora = LoRAConfig(rank: 8, alpha: 16, dropout: 0, targets: LoRATarget.allCases, useRSLoRA: false)
        let e1 = try #require(throws: MemoryBudgetError.self) {
            try checkTrainingMemory(Self.config, lora: lora, longest: 100, sequencesPerBatch: 1 << 40, gradientCheckpointing: false)
        }
        #expect(e1.description.hasPrefix("not enough memory: batch_size = 1099511627776 × the longest sequence (100 tokens, at most max_seq_length)"), "\(e1)")
        let e2 = try #require(throws: MemoryBudgetError.self) {
            try checkTrainingMemory(Self.config, lora: LoRAConfig(rank: 1 << 40, alpha: 16, dropout: 0, targets: LoRATarget.allCases, useRSLoRA: false), longest: 100, sequencesPerBatch: 2, gradientCheckpointing: false)
        }
        #expect(e2.description.hasPrefix("not enough memory: r = 1099511627776 (the adapter with its gradients and AdamW moments) needs about"), "\(e2)")
        let e3 = try #require(throws: MemoryBudgetError.self) {
            try checkTrainingMemory(Self.config, lora: lora, longest: 3_000_000, sequencesPerBatch: 2, gradientCheckpointing: false,
                                    sequenceKey: "max_length")
        }
        #expect(e3.description.contains("(3000000 tokens, at most max_length)") && e3.description.contains("GB (RAM + swap)"), "\(e3)")
        // Overflowing the row count itself.
        #expect(throws: MemoryBudgetError.self) {
            try checkTrainingMemory(Self.config, lora: lora, longest: 1 << 40, sequencesPerBatch: 1 << 40, gradientCheckpointing: false)
        }
        // Negative control: the default notebook's shape.
        #expect(throws: Never.self) {
            try checkTrainingMemory(Self.config, lora: LoRAConfig(rank: 16, alpha: 16, dropout: 0, targets: LoRATarget.allCases, useRSLoRA: false), longest: 512, sequencesPerBatch: 2, gradientCheckpointing: false)
        }
    }
}
