import Foundation

/// Everything a byte-level BPE tokenizer is made of, as plain values. The HF and GGUF loaders
/// fill this in; `Tokenizer(definition:)` validates it.
struct TokenizerDefinition {
    /// File the definition came from, for error messages.
    var source: String
    /// id → token (byte-level form for BPE tokens); nil for unused ids.
    var tokens: [String?]
    /// Merges in rank order (rank = index).
    var merges: [(String, String)]
    /// Where the merges came from, for error messages (e.g. "model.merges").
    var mergesKey = "merges"
    var addedTokens: [AddedTokenSpec] = []
    var splitRules: [SplitRule]
    var nfc = false
    var ignoreMerges = false
    /// Ids `encode(_:addSpecialTokens: true)` puts before and after the text.
    var prefixIds: [Int] = []
    var suffixIds: [Int] = []
    var bosTokenId: Int?
    var eosTokenId: Int?
    var padTokenId: Int?
    /// Further ids that end a turn (GGUF eot/eom ids, eos_token_ids).
    var extraEndOfTurnIds: [Int] = []
    var chatTemplate: String?
    /// Where `chatTemplate` came from (a file, or a GGUF file and key), for error messages.
    var chatTemplateOrigin: String?
}

extension TokenizerDefinition {
    /// Id of a token by exact UTF-8 match (added tokens first); a scan, for the few names
    /// a config refers to.
    func id(of name: String) -> Int? {
        if let a = addedTokens.first(where: { $0.content.utf8.elementsEqual(name.utf8) }) { return a.id }
        return tokens.firstIndex { $0?.utf8.elementsEqual(name.utf8) == true }
    }
}

/// Byte-level BPE tokenizer (GPT-2 family: SmolLM2, Llama-3, Qwen2, DeepSeek-R1 distills),
/// loaded from a HF tokenizer.json or a GGUF file's tokenizer.ggml.* metadata.
public final class Tokenizer: @unchecked Sendable {
    private let tokens: [String?]
    private let tokenBytes: [[UInt8]]
    private let tokenToId: ByteStringTable
    private let isSpecial: [Bool]
    private let added: AddedTokenMatcher
    fileprivate let bpe: BPEModel
    private let preTokenizer: PreTokenizer
    private let nfc: Bool
    private let prefixIds: [Int]
    private let suffixIds: [Int]

    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let padTokenId: Int?
    /// Tokens that end generation: eos plus end-of-turn tokens the vocabulary has.
    public let endOfTurnTokenIds: Set<Int>
    public let chatTemplate: String?
    /// Where `chatTemplate` came from: `…/tokenizer_config.json`, `…/chat_template.jinja` or
    /// `FILE.gguf (tokenizer.chat_template)`; nil without a template.
    public let chatTemplateOrigin: String?

    /// Number of ids (vocabulary plus added tokens), as HF `len(tokenizer)`.
    public var vocabSize: Int { tokens.count }
    public var bosToken: String? { bosTokenId.flatMap { token($0) } }
    public var eosToken: String? { eosTokenId.flatMap { token($0) } }
    /// Whether `encode(_:addSpecialTokens: true)` adds tokens (BOS for Llama-3).
    public var addsSpecialTokens: Bool { !prefixIds.isEmpty || !suffixIds.isEmpty }

    /// Contents that end a turn in the supported chat formats.
    static let endOfTurnContents: Set<String> = [
        "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|endoftext|>",
        "<｜end▁of▁sentence｜>", "<end_of_turn>", "<|end|>",
    ]

    init(definition d: TokenizerDefinition) throws {
        let src = d.source
        tokens = d.tokens
        // Token → id keyed by UTF-8 bytes: exact (Swift String equality is canonical
        // equivalence) and much faster to build than a [String: Int] for 150k tokens.
        var map = ByteStringTable(capacity: d.tokens.count + d.addedTokens.count)
        for (id, t) in d.tokens.enumerated() {
            guard let t else { continue }
            withUTF8(t) { if map.find($0) == nil { map.insert($0, Int32(id), 0) } }
        }
        for a in d.addedTokens {
            guard a.id >= 0 && a.id < d.tokens.count else {
                throw TokenizerError.file(src, "added token \"\(a.content)\" has id \(a.id) outside the vocabulary (size \(d.tokens.count))")
            }
            withUTF8(a.content) { map.set($0, Int32(a.id), 0) }
        }
        tokenToId = map
        func lookup(_ s: String) -> Int? { withUTF8(s) { map.find($0).map { Int($0.0) } } }

        var special = [Bool](repeating: false, count: d.tokens.count)
        for a in d.addedTokens where a.special { special[a.id] = true }
        isSpecial = special
        added = AddedTokenMatcher(d.addedTokens)

        tokenBytes = d.tokens.map { t in
            guard let t else { return [] }
            return ByteLevel.decode(t) ?? Array(t.utf8)
        }

        // Byte tokens and the byte-string vocabulary (added tokens excluded: they are matched
        // before BPE and must not be produced by it).
        let addedIds = Set(d.addedTokens.map(\.id))
        var byteIds = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let ch = String(Character(Unicode.Scalar(ByteLevel.byteToScalar[b])!))
            if let id = lookup(ch), !addedIds.contains(id) { byteIds[b] = Int32(id) }
        }
        var vocabBytes = ByteStringTable(capacity: d.ignoreMerges ? d.tokens.count : 16)
        if d.ignoreMerges {
            for (id, t) in d.tokens.enumerated() {
                guard let t, !addedIds.contains(id), let bytes = ByteLevel.decode(t), bytes.count > 1 else { continue }
                bytes.withUnsafeBufferPointer { if vocabBytes.find($0) == nil { vocabBytes.insert($0, Int32(id), 0) } }
            }
        }

        var pairs = PairTable(capacityFor: d.merges.count)
        var joined: [UInt8] = []
        for (rank, (a, b)) in d.merges.enumerated() {
            joined.removeAll(keepingCapacity: true)
            joined.append(contentsOf: a.utf8)
            joined.append(contentsOf: b.utf8)
            guard let ia = lookup(a) else {
                throw TokenizerError.file(src, "\(d.mergesKey)[\(rank)] \"\(a) \(b)\": token \"\(a)\" is not in the vocabulary")
            }
            guard let ib = lookup(b) else {
                throw TokenizerError.file(src, "\(d.mergesKey)[\(rank)] \"\(a) \(b)\": token \"\(b)\" is not in the vocabulary")
            }
            guard let merged = joined.withUnsafeBufferPointer({ map.find($0) })?.0 else {
                throw TokenizerError.file(src, "\(d.mergesKey)[\(rank)] \"\(a) \(b)\": merged token \"\(a + b)\" is not in the vocabulary")
            }
            pairs.insert(left: Int32(ia), right: Int32(ib), rank: UInt32(rank), merged: Int32(merged))
        }
        bpe = BPEModel(byteIds: byteIds, pairs: pairs, ignoreMerges: d.ignoreMerges, vocabBytes: vocabBytes)
        preTokenizer = PreTokenizer(rules: d.splitRules)
        nfc = d.nfc

        for id in d.prefixIds + d.suffixIds + [d.bosTokenId, d.eosTokenId, d.padTokenId].compactMap({ $0 }) + d.extraEndOfTurnIds {
            guard id >= 0 && id < d.tokens.count else {
                throw TokenizerError.file(src, "special token id \(id) is outside the vocabulary (size \(d.tokens.count))")
            }
        }
        prefixIds = d.prefixIds
        suffixIds = d.suffixIds
        bosTokenId = d.bosTokenId
        eosTokenId = d.eosTokenId
        padTokenId = d.padTokenId
        chatTemplate = d.chatTemplate
        chatTemplateOrigin = d.chatTemplate == nil ? nil : d.chatTemplateOrigin

        var eot = Set(d.extraEndOfTurnIds)
        if let e = d.eosTokenId { eot.insert(e) }
        for a in d.addedTokens where Self.endOfTurnContents.contains(a.content) { eot.insert(a.id) }
        for c in Self.endOfTurnContents { if let id = lookup(c), special[id] { eot.insert(id) } }
        endOfTurnTokenIds = eot
    }

    // MARK: vocabulary

    public func tokenId(_ token: String) -> Int? { withUTF8(token) { tokenToId.find($0).map { Int($0.0) } } }

    /// The vocabulary entry (byte-level form, e.g. "Ġthe"), as HF `convert_ids_to_tokens`.
    public func token(_ id: Int) -> String? {
        guard id >= 0 && id < tokens.count else { return nil }
        return tokens[id]
    }

    public func isSpecialToken(_ id: Int) -> Bool { id >= 0 && id < isSpecial.count && isSpecial[id] }

    // MARK: encoding

    private struct EncodeState {
        var text = ScalarText()
        var pieces: [Int32] = []
        var scratch: [Int32] = []
        var bpe = BPEScratch()
    }

    /// Token ids of `text`. Added and special tokens written in the text are matched first
    /// (as HF does); `addSpecialTokens` adds what the tokenizer's post-processor adds (BOS for
    /// Llama-3, nothing for Qwen2 / SmolLM2).
    public func encode(_ text: String, addSpecialTokens: Bool = false) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        if addSpecialTokens { out += prefixIds }
        var state = EncodeState()
        var text = text
        text.withUTF8 { buf in
            added.split(buf) { piece in
                switch piece {
                case .token(let id):
                    out.append(id)
                case .text(let r):
                    encodeSegment(UnsafeBufferPointer(rebasing: buf[r]), &state, &out)
                }
            }
        }
        if addSpecialTokens { out += suffixIds }
        return out
    }

    private func encodeSegment(_ seg: UnsafeBufferPointer<UInt8>, _ st: inout EncodeState, _ out: inout [Int]) {
        if nfc && !Self.isSurelyNFC(seg) {
            var normalized = String(decoding: seg, as: UTF8.self).precomposedStringWithCanonicalMapping
            normalized.withUTF8 { encodeNormalized($0, &st, &out) }
        } else {
            encodeNormalized(seg, &st, &out)
        }
    }

    /// True when every scalar is in a range whose characters are NFC-stable starters
    /// (NFC_QC=Yes, combining class 0), so NFC cannot change the text: Latin-1, CJK, kana,
    /// Hangul syllables, full-width forms, emoji. Anything else goes through Foundation.
    static func isSurelyNFC(_ seg: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = seg.count
        while i < n {
            let b0 = seg[i]
            if b0 < 0x80 { i += 1; continue }
            var v: UInt32
            if b0 < 0xE0 {
                v = UInt32(b0 & 0x1F) << 6 | UInt32(seg[i + 1] & 0x3F); i += 2
            } else if b0 < 0xF0 {
                v = UInt32(b0 & 0x0F) << 12 | UInt32(seg[i + 1] & 0x3F) << 6 | UInt32(seg[i + 2] & 0x3F); i += 3
            } else {
                v = UInt32(b0 & 0x07) << 18 | UInt32(seg[i + 1] & 0x3F) << 12 | UInt32(seg[i + 2] & 0x3F) << 6
                    | UInt32(seg[i + 3] & 0x3F); i += 4
            }
            switch v {
            case 0..<0x300, 0x3000..<0x302A, 0x3030..<0x303F, 0x3041..<0x3097, 0x30A0..<0x3100,
                 0x4E00..<0xA000, 0xAC00..<0xD7A4, 0xFF00..<0xFFF0, 0x1F300..<0x1FB00:
                continue
            default:
                return false
            }
        }
        return true
    }

    private func encodeNormalized(_ seg: UnsafeBufferPointer<UInt8>, _ st: inout EncodeState, _ out: inout [Int]) {
        st.text.load(seg)
        preTokenizer.split(st.text, into: &st.pieces, scratch: &st.scratch)
        var k = 0
        while k < st.pieces.count {
            let a = Int(st.text.offsets[Int(st.pieces[k])]), b = Int(st.text.offsets[Int(st.pieces[k + 1])])
            bpe.encode(UnsafeBufferPointer(rebasing: seg[a..<b]), into: &out, scratch: &st.bpe)
            k += 2
        }
    }

    // MARK: decoding

    /// Text of `ids`; bytes that do not form valid UTF-8 become U+FFFD, as HF's ByteLevel decoder.
    /// Ids outside the vocabulary are ignored.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids { appendBytes(id, skipSpecialTokens, &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    @inline(__always)
    func appendBytes(_ id: Int, _ skipSpecial: Bool, _ bytes: inout [UInt8]) {
        guard id >= 0 && id < tokenBytes.count else { return }
        if skipSpecial && isSpecial[id] { return }
        bytes += tokenBytes[id]
    }

    public func makeStreamDecoder(skipSpecialTokens: Bool = false) -> StreamDecoder {
        StreamDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }
}

extension Tokenizer {
    var bpeModelForTesting: BPEModel { bpe }
}

/// Runs `body` on the UTF-8 bytes of `s` without copying when the string is native.
@inline(__always)
func withUTF8<R>(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    if let r = s.utf8.withContiguousStorageIfAvailable(body) { return r }
    return Array(s.utf8).withUnsafeBufferPointer(body)
}
