// Building a BPETokenizer from the tokenizer stored in GGUF metadata.

import Foundation
import ModelIO
import Support

extension BPETokenizer {
    /// Reads the byte-level BPE tokenizer in a GGUF file's metadata:
    /// - `tokenizer.ggml.model` must be `gpt2` (byte-level BPE; `llama` = SentencePiece is an error),
    /// - `tokenizer.ggml.tokens`: string array, id = index,
    /// - `tokenizer.ggml.merges`: string array of "left right", rank = index,
    /// - `tokenizer.ggml.pre`: the pre-tokenizer name (`smollm`, `gpt2`, ...); an unknown name
    ///   is `TokenizerError.unknownPreTokenizer`. `preTokenizer` overrides it (and is needed
    ///   when the file names none),
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
        try self.init(tokens: tokens, merges: merges,
                      preTokenizer: preName,
                      bosTokenID: try tokenID("tokenizer.ggml.bos_token_id"),
                      eosTokenID: try tokenID("tokenizer.ggml.eos_token_id"),
                      source: override == nil ? src : "\(src) (--pre \(preName))")
    }

    static func loadGGUF(_ url: URL, preTokenizer: String?) throws -> BPETokenizer {
        try BPETokenizer(gguf: try GGUFFile(path: url.path), preTokenizer: preTokenizer)
    }
}
