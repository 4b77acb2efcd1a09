import Dataset
import Foundation
import FuzzSupport
import Tokenization

/// A training data file (JSON array or JSONL; SFT records and preference pairs). An input with a
/// NUL byte is a prompt template (before it) and a data file (after it): each row is rendered,
/// tokenised with tiny-llama3's tokenizer and masked.
let tokenizer: Tokenizer = {
    guard let t = try? Tokenizer.load(tokenizerJSON: repoRoot + "/Tests/Fixtures/tiny-llama3/tokenizer.json") else {
        fatalError("fuzz support: Tests/Fixtures/tiny-llama3/tokenizer.json does not load")
    }
    return t
}()

func fuzzDataset(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    var templateText = "Question: {Question}\n<think>{Complex_CoT}</think>\n{Response}"
    var body = input[...]
    if let nul = input.firstIndex(of: 0) {
        templateText = String(decoding: input[..<nul], as: UTF8.self)
        body = input[(nul + 1)...]
    }
    let path = Scratch.write(Array(body), "data.json")
    if let d = try? Dataset.load(path: path) {
        if let template = try? PromptTemplate(templateText), (try? template.validate(against: d)) != nil,
           let maker = try? ExampleBuilder(template: template, tokenizer: tokenizer, options: TokenizeOptions(maxSeqLength: 64)) {
            _ = try? maker.examples(d)
        }
        _ = try? d.sliced("[1:-1]")
    }
    _ = try? Dataset.loadPreferences(path: path)
    return 0
}

runFuzzer(fuzzDataset)
