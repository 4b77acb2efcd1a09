import Testing
@testable import Notebook

/// Command-line flags are the schema's keys: parsed, checked and named like notebook values.
@Suite struct CellFlagsTests {
    let flags = CellFlags(kinds: [.train, .format, .load])

    @Test func flagsMapToCellKeys() throws {
        let p = try flags.parse(["--lr", "1e-4", "--max-seq-length=256", "--packing", "--targets", "q,v", "--model", "m.gguf",
                                 "--format-seed", "7", "--seed", "3", "--no-plot"])
        #expect(p.overrides[.train]?["lr"] == .double(1e-4))
        #expect(p.overrides[.format]?["max_seq_length"] == .int(256))
        #expect(p.overrides[.format]?["packing"] == .bool(true))
        #expect(p.overrides[.train]?["targets"] == .array([.string("q"), .string("v")]))
        #expect(p.overrides[.load]?["model"] == .string("m.gguf"))
        #expect(p.overrides[.format]?["seed"] == .int(7))
        #expect(p.overrides[.train]?["seed"] == .int(3))   // the command's own kind owns the bare flag
        #expect(p.overrides[.train]?["plot"] == .bool(false))
        #expect(p.flags[.format]?["max_seq_length"] == "--max-seq-length")
    }

    @Test func errorsNameTheFlagAndTheClosestOne() {
        func message(_ args: [String]) -> String {
            do { _ = try flags.parse(args); return "accepted" } catch { return "\(error)" }
        }
        #expect(message(["--lrr", "1"]) == "--lrr: unknown option (did you mean '--lr'?)")
        #expect(message(["--lr", "0"]).hasPrefix("--lr (train.lr): must be greater than 0"))
        #expect(message(["--lr", "fast"]).hasPrefix("--lr (train.lr): expected a number"))
        #expect(message(["--scheduler", "cosin"]).contains("(did you mean 'cosine'?)"))
        #expect(message(["--batch-size"]).hasPrefix("--batch-size: needs a value"))
        #expect(message(["--lr", "1e-4", "--train-lr", "2e-4"]).hasPrefix("--train-lr: given twice"))
        #expect(message(["stray"]).hasPrefix("stray: unexpected argument"))
    }

    @Test func helpListsEveryKeyWithItsDefault() {
        let help = flags.help
        for kind in flags.kinds {
            for spec in CellSchema.params(for: kind) { #expect(help.contains(spec.help), "\(kind.rawValue).\(spec.key)") }
        }
        #expect(help.contains("--format-seed <n> (default 3407)"))
    }
}
