import ChatTemplate
import Foundation
import Transformer

/// `Modelfile` in the folder of `gguf` (Ollama's default name, so `ollama create NAME` run there finds it).
func modelfileURL(forGGUF gguf: String) -> URL {
    // <name>.Modelfile beside <name>.gguf: several exports can share a folder (`ollama create -f` takes any name).
    let u = URL(fileURLWithPath: gguf)
    return u.deletingLastPathComponent().appendingPathComponent(u.deletingPathExtension().lastPathComponent + ".Modelfile")
}

/// A chat format Ollama's Go templates can express and TuneLab recognises in a model's own
/// Jinja template: the model's template must render a probe conversation exactly as `render` does.
struct ChatFormat {
    let name: String
    let render: ([ChatMessage], _ addGenerationPrompt: Bool) -> String
    /// Text before a turn's content, text after it (when the turn is complete).
    let turnStart: (String) -> String
    let turnEnd: String
    /// The Go template (Ollama's `.Messages` form): every message as a turn, the last assistant
    /// message left open (a prefill), otherwise an open assistant turn at the end.
    let goTemplate: String

    static let chatML = ChatFormat(
        name: "ChatML",
        render: { ms, gen in ms.map { "<|im_start|>\($0.role)\n\($0.content)<|im_end|>\n" }.joined() + (gen ? "<|im_start|>assistant\n" : "") },
        turnStart: { "<|im_start|>\($0)\n" }, turnEnd: "<|im_end|>\n",
        goTemplate: """
            {{- range $i, $_ := .Messages }}
            {{- $last := eq (len (slice $.Messages $i)) 1 -}}
            <|im_start|>{{ .Role }}
            {{ .Content }}{{ if or (ne .Role "assistant") (not $last) }}<|im_end|>
            {{ end }}
            {{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
            {{ end }}
            {{- end }}
            """)

    static let llama3 = ChatFormat(
        name: "Llama-3",
        render: { ms, gen in
            ms.map { "<|start_header_id|>\($0.role)<|end_header_id|>\n\n\($0.content)<|eot_id|>" }.joined()
                + (gen ? "<|start_header_id|>assistant<|end_header_id|>\n\n" : "")
        },
        turnStart: { "<|start_header_id|>\($0)<|end_header_id|>\n\n" }, turnEnd: "<|eot_id|>",
        goTemplate: """
            {{- range $i, $_ := .Messages }}
            {{- $last := eq (len (slice $.Messages $i)) 1 -}}
            <|start_header_id|>{{ .Role }}<|end_header_id|>

            {{ .Content }}{{ if or (ne .Role "assistant") (not $last) }}<|eot_id|>{{ end }}
            {{- if and $last (ne .Role "assistant") }}<|start_header_id|>assistant<|end_header_id|>

            {{ end }}
            {{- end }}
            """)

    static let supported = [chatML, llama3]
}

/// An Ollama Modelfile for `model` exported as `ggufFileName`: FROM, the chat template translated
/// to a Go template, the template's default system prompt (SYSTEM) when it adds one, and a stop
/// parameter for every token TuneLab's generation stops on. Only ChatML and Llama-3 formats are
/// translated; any other template is an error naming the model (write the TEMPLATE by hand).
public func ollamaModelfile(model: LanguageModel, ggufFileName: String) throws -> String {
    guard model.chatTemplate != nil else {
        throw ExportError("\(model.path): the model has no chat template, so no Modelfile TEMPLATE can be written; export with modelfile = false (--no-modelfile)")
    }
    let tok = model.tokenizer
    // Distinct probe texts, so that a template that drops, reorders or rewrites a turn cannot match.
    let probe = [ChatMessage(role: "system", content: "S1 probe"), ChatMessage(role: "user", content: "U1 probe"),
                 ChatMessage(role: "assistant", content: "A1 probe"), ChatMessage(role: "user", content: "U2 probe")]
    let rendered: String
    do { rendered = try model.renderChat(probe, addGenerationPrompt: true) } catch {
        throw ExportError("\(model.path): chat template cannot render a system/user/assistant conversation (\(error)); no Modelfile written")
    }
    // A template may print BOS itself (Llama-3's `{{ bos_token }}`): the rest must still be the format.
    let bos = tok.bosToken ?? ""
    var printsBOS = false
    var found: ChatFormat? = nil
    for f in ChatFormat.supported {
        let expected = f.render(probe, true)
        if rendered == expected { found = f; break }
        if !bos.isEmpty, rendered == bos + expected { found = f; printsBOS = true; break }
    }
    guard let format = found else {
        throw ExportError("\(model.path): chat template is neither ChatML nor Llama-3 style (it renders a probe conversation as \(rendered.debugDescription)); no Modelfile TEMPLATE can be translated: export with modelfile = false (--no-modelfile) and write one by hand")
    }
    // A template that adds a system turn when the conversation has none: Ollama's SYSTEM.
    let user = [ChatMessage(role: "user", content: "U1 probe")]
    var alone = try model.renderChat(user, addGenerationPrompt: true)
    if printsBOS, alone.hasPrefix(bos) { alone.removeFirst(bos.count) }
    var system: String? = nil
    if alone != format.render(user, true) {
        let start = format.turnStart("system")
        if alone.hasPrefix(start), let end = alone.range(of: format.turnEnd, range: alone.index(alone.startIndex, offsetBy: start.count)..<alone.endIndex) {
            let d = String(alone[alone.index(alone.startIndex, offsetBy: start.count)..<end.lowerBound])
            if format.render([ChatMessage(role: "system", content: d)] + user, true) == alone { system = d }
        }
        guard system != nil else {
            throw ExportError("\(model.path): chat template renders a lone user turn as \(alone.debugDescription), which a \(format.name) Go template cannot reproduce; no Modelfile written")
        }
    }
    // llama.cpp / Ollama add BOS when tokenizing if the tokenizer says so; otherwise the template must print it.
    let template = (printsBOS && !tok.addsSpecialTokens ? bos : "") + format.goTemplate
    for (what, text) in [("template", template), ("system prompt", system ?? "")] where text.contains("\"\"\"") {
        throw ExportError("\(model.path): the \(what) contains \"\"\", which a Modelfile cannot quote")
    }
    var out = "# Ollama Modelfile written by TuneLab for \(ggufFileName) (\(format.name) chat template of \(URL(fileURLWithPath: model.path).lastPathComponent))\n"
    out += "FROM ./\(ggufFileName)\n"
    out += "TEMPLATE \"\"\"\(template)\"\"\"\n"
    if let system { out += "SYSTEM \"\"\"\(system)\"\"\"\n" }
    for id in tok.endOfTurnTokenIds.sorted() {
        guard let t = tok.token(id), !t.contains("\"") else { continue }
        out += "PARAMETER stop \"\(t)\"\n"
    }
    return out
}
