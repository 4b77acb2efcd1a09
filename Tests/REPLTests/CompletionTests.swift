import Testing
@testable import REPL
import Notebook

@Test func completesCommandsAndKinds() {
    #expect(Completion.candidates(for: ":n") == [":next"])
    #expect(Completion.candidates(for: ":s") == [":set", ":show"])
    #expect(Completion.candidates(for: ":r", extraCommands: ["runs", "replay"]) == [":replay", ":run", ":runs"])
    #expect(Completion.candidates(for: "tr") == ["train"])
    #expect(Completion.candidates(for: "e") == ["eval", "export"])
    #expect(Completion.candidates(for: "x").isEmpty)
    #expect(Completion.candidates(for: "").contains(":help") && Completion.candidates(for: "").contains("load"))
}

@Test func completesParameterNamesAndChoices() {
    #expect(Completion.candidates(for: "train max_") == ["max_grad_norm=", "max_steps="])
    #expect(Completion.candidates(for: "train lr=1e-4 l") == ["lora_alpha=", "lora_dropout="])  // lr already given
    #expect(Completion.candidates(for: "train scheduler=co") == ["scheduler=constant", "scheduler=constant_with_warmup", "scheduler=cosine"])
    #expect(Completion.candidates(for: "format packing=") == ["packing=false", "packing=true"])
    #expect(Completion.candidates(for: "infer ").count == CellSchema.params(for: .infer).count)
    #expect(Completion.candidates(for: "infer r").sorted() == ["repetition_penalty=", "rows="])
    #expect(Completion.candidates(for: ":set tr") == ["train."])
    #expect(Completion.candidates(for: ":set train.lr") == ["train.lr="])
    #expect(Completion.candidates(for: ":set train.lo") == ["train.lora_alpha=", "train.lora_dropout="])
    #expect(Completion.candidates(for: ":set train.scheduler=l") == ["train.scheduler=linear"])
    #expect(Completion.candidates(for: ":unset train.max_s") == ["train.max_steps"])
    #expect(Completion.candidates(for: ":run a") == ["all"])
    #expect(Completion.candidates(for: ":plot 7 --metric ") == ["eval_loss", "grad_norm", "loss", "lr"])
    #expect(Completion.candidates(for: ":plot 7 --l") == ["--log-y"])
    #expect(Completion.commonPrefix(["max_grad_norm=", "max_steps="]) == "max_")
    #expect(Completion.commonPrefix([]) == "")
}
