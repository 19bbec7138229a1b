// Building a BPETokenizer from the tokenizer stored in GGUF metadata.

import Foundation
import ModelIO
import Support

extension BPETokenizer {
    /// Reads the byte-level BPE tokenizer in a GGUF file's metadata:
    /// - `tokenizer.ggml.model` must be `gpt2` (byte-level BPE; `llama` = SentencePiece is an error),
    /// - `tokenizer.ggml.tokens`: string array, id = index,
    /// - `tokenizer.ggml.merges`: string array of "left right", rank = index,
    /// - `tokenizer.ggml.pre`: the pre-tokenizer name as llama.cpp's converter writes it
    ///   (`ggufPreTokenizers`: `gpt2`, `smollm`, `llama-bpe`, `qwen2` and llama.cpp's synonyms of
    ///   them); any other name is a `TokenizerError` naming the key. `preTokenizer` overrides it
    ///   (and is needed when the file names none),
    /// - `tokenizer.ggml.bos_token_id` / `eos_token_id` (optional; recorded, never added).
    public convenience init(gguf: GGUFFile, preTokenizer override: String? = nil) throws {
        let src = gguf.path
        let md = gguf.metadata
        guard let kind = md["tokenizer.ggml.model"]?.string else {
            throw TokenizerError.missingField(field: "tokenizer.ggml.model", expected: "a string such as 'gpt2'", source: src)
        }
        if kind == "llama" {   // SentencePiece vocabulary (SentencePiece.swift)
            if let o = override {
                throw TokenizerError.invalid(source: src, detail: "--pre \(o) does not apply to a SentencePiece ('llama') vocabulary")
            }
            // llama.cpp ignores the key for SentencePiece vocabularies and its converter writes none
            // (or `default`); a byte-level pre-tokenizer name here contradicts the vocabulary.
            if let p = md["tokenizer.ggml.pre"] {
                guard let name = p.string else {
                    throw TokenizerError.missingField(field: "tokenizer.ggml.pre", expected: "a string", source: src)
                }
                if name != "default" {
                    throw TokenizerError.invalid(source: src, detail: "tokenizer.ggml.pre is '\(name)', a byte-level BPE pre-tokenizer, but tokenizer.ggml.model is 'llama' (SentencePiece, which has none: expected the key absent or 'default')")
                }
            }
            try self.init(sentencePiece: try SentencePieceModel(ggufMetadata: md, source: src), source: src)
            return
        }
        guard kind == "gpt2" else {
            throw TokenizerError.invalid(source: src, detail: "tokenizer.ggml.model is '\(kind)'; mxq reads byte-level BPE ('gpt2') and SentencePiece ('llama')")
        }
        guard let tokens = md["tokenizer.ggml.tokens"]?.stringArray else {
            throw TokenizerError.missingField(field: "tokenizer.ggml.tokens", expected: "an array of strings", source: src)
        }
        guard let merges = md["tokenizer.ggml.merges"]?.stringArray else {
            throw TokenizerError.missingField(field: "tokenizer.ggml.merges", expected: "an array of strings \"left right\"", source: src)
        }
        let preName: String
        if let o = override {
            preName = o
        } else if let p = md["tokenizer.ggml.pre"] {
            guard let s = p.string else {
                throw TokenizerError.missingField(field: "tokenizer.ggml.pre", expected: "a string", source: src)
            }
            preName = s
        } else {
            throw TokenizerError.missingField(field: "tokenizer.ggml.pre",
                                              expected: "a pre-tokenizer name; or choose one with --pre smollm|gpt2", source: src)
        }
        func tokenID(_ key: String) throws -> Int32? {
            guard let v = md[key] else { return nil }
            guard let i = v.int, i >= 0, i < Int(Int32.max) else {
                throw TokenizerError.missingField(field: key, expected: "a non-negative integer token id", source: src)
            }
            return Int32(i)
        }
        let bos = try tokenID("tokenizer.ggml.bos_token_id"), eos = try tokenID("tokenizer.ggml.eos_token_id")
        if override != nil {
            try self.init(tokens: tokens, merges: merges, preTokenizer: preName, bosTokenID: bos, eosTokenID: eos,
                          source: "\(src) (--pre \(preName))")
            return
        }
        guard let kind = BPETokenizer.ggufPreTokenizers[preName] else {
            throw TokenizerError.invalid(source: src, detail: "tokenizer.ggml.pre is '\(preName)', not a pre-tokenizer mxq implements (known: \(BPETokenizer.ggufPreTokenizerList)); choose one with --pre smollm|gpt2 only if it is really the same")
        }
        switch kind {
        case .scanner(let pre):
            try self.init(tokens: tokens, merges: merges, preTokenizer: pre.rawValue, bosTokenID: bos, eosTokenID: eos, source: src)
        case .split(let pattern, let nfc, let ignoreMerges):
            let pipeline = SplitPipeline(steps: [.init(regex: try Regex(pattern, source: "\(src) tokenizer.ggml.pre \(preName)"),
                                                       behavior: .isolated, invert: false)],
                                         name: "\(preName): Split(Isolated)+ByteLevel", nfc: nfc)
            try self.init(tokens: tokens, mergePairs: try BPETokenizer.parseMerges(merges, source: src), preTokenizer: .gpt2,
                          bosTokenID: bos, eosTokenID: eos, ignoreMerges: ignoreMerges, source: src, pipeline: pipeline,
                          addedTokens: [], sentencePiece: nil)
        }
    }

    /// What a GGUF `tokenizer.ggml.pre` name means for a byte-level (`gpt2`) vocabulary.
    enum GGUFPreTokenizer {
        /// One of the hand-written scanners.
        case scanner(PreTokenizer)
        /// The `Split` pattern of the model's tokenizer.json (Isolated, then ByteLevel without
        /// regex), with that file's NFC normalizer and `ignore_merges`.
        case split(pattern: String, nfc: Bool, ignoreMerges: Bool)
    }

    /// The `tokenizer.ggml.pre` names mxq reads, as llama.cpp's `convert_hf_to_gguf.py` writes them
    /// and `llama-vocab.cpp` reads them (names llama.cpp maps to the same pre-tokenizer type are
    /// synonyms here only when they belong to the same model family):
    /// - `gpt2`, `gpt-2`: the GPT-2 pattern; `smollm`, `starcoder`: every digit alone, then GPT-2.
    /// - `llama-bpe` (Llama-3; synonyms `llama3`, `llama-v3`): Llama-3's Split pattern; llama.cpp
    ///   sets `ignore_merges` for it, as Llama-3's tokenizer.json does.
    /// - `qwen2`: Qwen2's Split pattern, with the NFC normalizer of Qwen2's tokenizer.json
    ///   (llama.cpp does not normalize; the two differ only on text that is not NFC).
    /// Anything else (`default`, `deepseek-llm`, `falcon`, ...) is refused.
    static let ggufPreTokenizers: [String: GGUFPreTokenizer] = [
        "gpt2": .scanner(.gpt2), "gpt-2": .scanner(.gpt2),
        "smollm": .scanner(.smollm), "starcoder": .scanner(.smollm),
        "llama-bpe": .split(pattern: SplitPipeline.llama3Pattern, nfc: false, ignoreMerges: true),
        "llama3": .split(pattern: SplitPipeline.llama3Pattern, nfc: false, ignoreMerges: true),
        "llama-v3": .split(pattern: SplitPipeline.llama3Pattern, nfc: false, ignoreMerges: true),
        "qwen2": .split(pattern: SplitPipeline.qwen2Pattern, nfc: true, ignoreMerges: false),
    ]
    static let ggufPreTokenizerList = "gpt2 (gpt-2), smollm (starcoder), llama-bpe (llama3, llama-v3), qwen2"

    static func loadGGUF(_ url: URL, preTokenizer: String?) throws -> BPETokenizer {
        try BPETokenizer(gguf: try GGUFFile(path: url.path), preTokenizer: preTokenizer)
    }
}
