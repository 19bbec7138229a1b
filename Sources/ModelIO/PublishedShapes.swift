import Foundation
import Support

/// The architectures of published checkpoints, for random-weight models of the real shapes
/// (`mxq synth`). Values are those of each model's `config.json` on the Hugging Face hub
/// (meta-llama/Llama-2-7b-hf, meta-llama/Meta-Llama-3-8B, meta-llama/Llama-3.2-1B,
/// mistralai/Mistral-7B-v0.1, Qwen/Qwen2.5-0.5B, HuggingFaceTB/SmolLM2-135M).
public enum PublishedShape: String, CaseIterable, Sendable {
    case llama2_7b = "llama2-7b"
    case llama3_8b = "llama3-8b"
    case llama3_2_1b = "llama3.2-1b"
    case mistral_7b = "mistral-7b"
    case qwen2_5_0_5b = "qwen2.5-0.5b"
    case smollm2_135m = "smollm2-135m"

    public init(parsing name: String) throws {
        guard let s = PublishedShape(rawValue: name.lowercased()) else {
            throw UsageError("unknown shape '\(name)'; expected one of \(PublishedShape.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = s
    }

    /// The hyperparameters mxq reads from the published config.json.
    public var hyperparameters: LlamaHyperparameters {
        switch self {
        case .llama2_7b:
            return LlamaHyperparameters(vocab: 32000, hidden: 4096, intermediate: 11008, layers: 32, heads: 32, kvHeads: 32,
                                        headDim: 128, rmsEps: 1e-5, ropeTheta: 10_000, tiedEmbeddings: false, contextLength: 4096,
                                        architecture: .llama, bosTokenID: 1)
        case .llama3_8b:
            return LlamaHyperparameters(vocab: 128_256, hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8,
                                        headDim: 128, rmsEps: 1e-5, ropeTheta: 500_000, tiedEmbeddings: false, contextLength: 8192,
                                        architecture: .llama, bosTokenID: 128_000)
        case .llama3_2_1b:
            return LlamaHyperparameters(vocab: 128_256, hidden: 2048, intermediate: 8192, layers: 16, heads: 32, kvHeads: 8,
                                        headDim: 64, rmsEps: 1e-5, ropeTheta: 500_000, tiedEmbeddings: true, contextLength: 131_072,
                                        architecture: .llama,
                                        ropeScaling: .llama3(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192),
                                        bosTokenID: 128_000)
        case .mistral_7b:
            return LlamaHyperparameters(vocab: 32000, hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8,
                                        headDim: 128, rmsEps: 1e-5, ropeTheta: 10_000, tiedEmbeddings: false, contextLength: 32768,
                                        architecture: .mistral, slidingWindow: 4096, bosTokenID: 1)
        case .qwen2_5_0_5b:
            // use_sliding_window is false: no layer slides (slidingWindow nil), as mxq reads it
            return LlamaHyperparameters(vocab: 151_936, hidden: 896, intermediate: 4864, layers: 24, heads: 14, kvHeads: 2,
                                        headDim: 64, rmsEps: 1e-6, ropeTheta: 1_000_000, tiedEmbeddings: true, contextLength: 32768,
                                        architecture: .qwen2, qkvBias: true, bosTokenID: 151_643)
        case .smollm2_135m:
            return LlamaHyperparameters(vocab: 49152, hidden: 576, intermediate: 1536, layers: 30, heads: 9, kvHeads: 3,
                                        headDim: 64, rmsEps: 1e-5, ropeTheta: 100_000, tiedEmbeddings: true, contextLength: 8192,
                                        architecture: .llama, bosTokenID: 0)
        }
    }

    /// Fields of the published config.json that mxq does not model (written as published so other
    /// tools see the same file): eos id, initializer range, Qwen2's inactive sliding-window fields.
    public var extraConfig: [String: Any] {
        var j: [String: Any] = ["initializer_range": 0.02]
        switch self {
        case .llama2_7b, .mistral_7b: j["eos_token_id"] = 2
        case .llama3_8b, .llama3_2_1b: j["eos_token_id"] = 128_001
        case .qwen2_5_0_5b:
            j["eos_token_id"] = 151_643
            j["use_sliding_window"] = false; j["sliding_window"] = 32768; j["max_window_layers"] = 24
        case .smollm2_135m: j["eos_token_id"] = 0; j["initializer_range"] = 0.041666666666666664
        }
        if self == .llama2_7b || self == .llama3_8b || self == .llama3_2_1b { j["pretraining_tp"] = 1 }
        return j
    }

    /// Special tokens at their published ids (BOS, EOS) for the synthetic tokenizer.
    public var specialTokens: [(id: Int, content: String)] {
        switch self {
        case .llama2_7b, .mistral_7b: return [(1, "<s>"), (2, "</s>")]
        case .llama3_8b, .llama3_2_1b: return [(128_000, "<|begin_of_text|>"), (128_001, "<|end_of_text|>")]
        case .qwen2_5_0_5b: return [(151_643, "<|endoftext|>")]
        case .smollm2_135m: return [(0, "<|endoftext|>")]
        }
    }
}

/// GPT-2's byte → printable-character table (`bytes_to_unicode`): printable Latin-1 bytes map to
/// themselves, the other 68 to U+0100 onwards in byte order.
public func byteLevelAlphabet() -> [String] {
    var extra = 0
    return (0..<256).map { b -> String in
        let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
        let scalar = printable ? b : 256 + extra
        if !printable { extra += 1 }
        return String(Character(Unicode.Scalar(UInt32(scalar))!))
    }
}

/// A byte-level BPE `tokenizer.json` (GPT-2 `ByteLevel` pre-tokenizer and decoder) with exactly
/// `vocab` ids: `special` tokens at their ids (added tokens, `special: true`), the 256 byte tokens,
/// then synthetic merges filling every other id in order: token t + byte b for t over the tokens
/// made so far in id order and b over the 256 bytes (so all two-byte strings come first, then
/// three-byte ones). Every text encodes (bytes are always covered); the merges mean nothing.
/// Needs `vocab ≥ 256 + special.count`.
public func syntheticTokenizerJSON(vocab: Int, special: [(id: Int, content: String)]) -> String {
    precondition(vocab >= 256 + special.count, "syntheticTokenizerJSON: vocab \(vocab) below 256 bytes + \(special.count) special tokens")
    precondition(special.allSatisfy { $0.id >= 0 && $0.id < vocab }, "syntheticTokenizerJSON: special id outside the vocabulary")
    let specialContents = Set(special.map(\.content))
    let alphabet = byteLevelAlphabet()
    var tokens: [String] = []           // generated tokens in id order (specials excluded)
    tokens.reserveCapacity(vocab)
    tokens += alphabet
    var merges: [String] = []
    let want = vocab - special.count
    var prefix = 0
    outer: while tokens.count < want {
        let left = tokens[prefix]
        for b in alphabet {
            if tokens.count >= want { break outer }
            if specialContents.contains(left + b) { continue }
            merges.append(left + " " + b)
            tokens.append(left + b)
        }
        prefix += 1
    }
    var vocabParts: [String] = []
    vocabParts.reserveCapacity(vocab)
    var next = 0
    for id in 0..<vocab {
        if let s = special.first(where: { $0.id == id }) { vocabParts.append(jsonString(s.content) + ":\(id)"); continue }
        vocabParts.append(jsonString(tokens[next]) + ":\(id)")
        next += 1
    }
    let added = special.map {
        "{\"id\":\($0.id),\"content\":\(jsonString($0.content)),\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}"
    }
    return "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[" + added.joined(separator: ",") +
        "],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}," +
        "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}," +
        "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null," +
        "\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":{" + vocabParts.joined(separator: ",") +
        "},\"merges\":[" + merges.map(jsonString).joined(separator: ",") + "]}}\n"
}

/// A `tokenizer_config.json` naming the BOS/EOS tokens (transformers and mxq read them from here).
public func tokenizerConfigJSON(bos: String?, eos: String?) -> String {
    var parts = ["\"tokenizer_class\": \"PreTrainedTokenizerFast\"", "\"add_bos_token\": false", "\"clean_up_tokenization_spaces\": false"]
    if let b = bos { parts.append("\"bos_token\": " + jsonString(b)) }
    if let e = eos { parts.append("\"eos_token\": " + jsonString(e)) }
    return "{\n  " + parts.joined(separator: ",\n  ") + "\n}\n"
}

/// A Hugging Face `tokenizer.json` equivalent to a GGUF byte-level BPE vocabulary
/// (`tokenizer.ggml.model` `gpt2`): the tokens with their ids, the merges in rank order, the
/// pre-tokenizer of `tokenizer.ggml.pre` (`gpt2`/`gpt-2`: `ByteLevel`; `smollm`/`starcoder`:
/// `Sequence[Digits(individual_digits), ByteLevel]`, as SmolLM's own tokenizer.json), control
/// (type 3) and user-defined (type 4) tokens as added tokens, plus the BOS/EOS token strings.
/// Nil (with the reason) for other vocabularies (SentencePiece `llama`, other pre-tokenizers).
public func ggufByteLevelTokenizerJSON(_ f: GGUFFile) -> (json: String?, bos: String?, eos: String?, reason: String) {
    guard f["tokenizer.ggml.model"]?.string == "gpt2" else {
        return (nil, nil, nil, "tokenizer.ggml.model is \(f["tokenizer.ggml.model"]?.string.map { "'\($0)'" } ?? "missing"), not byte-level BPE ('gpt2')")
    }
    guard let tokens = f["tokenizer.ggml.tokens"]?.stringArray, let merges = f["tokenizer.ggml.merges"]?.stringArray else {
        return (nil, nil, nil, "tokenizer.ggml.tokens or tokenizer.ggml.merges missing")
    }
    let pre: String
    switch f["tokenizer.ggml.pre"]?.string ?? "" {
    case "gpt2", "gpt-2":
        pre = "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}"
    case "smollm", "starcoder":
        pre = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]}"
    case let other:
        return (nil, nil, nil, "tokenizer.ggml.pre '\(other)' has no tokenizer.json equivalent here (gpt2 and smollm are written)")
    }
    let types = f["tokenizer.ggml.token_type"]?.array?.map { $0.int ?? 1 } ?? []
    var added: [String] = []
    for (i, t) in tokens.enumerated() where i < types.count && (types[i] == 3 || types[i] == 4) {
        added.append("{\"id\":\(i),\"content\":\(jsonString(t)),\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":\(types[i] == 3)}")
    }
    let vocab = tokens.enumerated().map { jsonString($0.element) + ":\($0.offset)" }.joined(separator: ",")
    let json = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[" + added.joined(separator: ",") +
        "],\"normalizer\":null,\"pre_tokenizer\":" + pre + ",\"post_processor\":null," +
        "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}," +
        "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null," +
        "\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":{" + vocab + "},\"merges\":[" +
        merges.map(jsonString).joined(separator: ",") + "]}}\n"
    func tok(_ key: String) -> String? { f[key]?.int.flatMap { $0 >= 0 && $0 < tokens.count ? tokens[$0] : nil } }
    return (json, tok("tokenizer.ggml.bos_token_id"), tok("tokenizer.ggml.eos_token_id"), "")
}
