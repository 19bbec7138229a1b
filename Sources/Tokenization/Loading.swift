// Building a BPETokenizer from a Hugging Face tokenizer.json (and the GGUF path in
// GGUFTokenizer.swift), plus `load(model:)` which picks the right one for a path.

import Foundation
import Support

extension BPETokenizer {
    /// Reads a Hugging Face `tokenizer.json` with a byte-level BPE model.
    ///
    /// Supported: `model.type == "BPE"` with `vocab` (string → id) and `merges` (either
    /// "a b" strings or [a, b] pairs), `added_tokens` (given their ids), `normalizer: null`,
    /// and `pre_tokenizer` either `ByteLevel` (→ `gpt2`) or
    /// `Sequence[Digits(individual_digits: true), ByteLevel]` (→ `smollm`), ByteLevel with
    /// `add_prefix_space: false` and `use_regex: true`. Anything else is a `TokenizerError`
    /// naming the field. `bos_token` / `eos_token` come from a `tokenizer_config.json` next
    /// to the file, when there is one. `preTokenizer` overrides the file's pre-tokenizer.
    public convenience init(tokenizerJSON url: URL, preTokenizer override: String? = nil) throws {
        let src = url.path
        let data: Data
        do { data = try readRegularFile(src, maxBytes: maxTokenizerJSONBytes, what: "tokenizer.json") } catch let e as FileReadError {
            throw TokenizerError.invalid(source: src, detail: "cannot read: \(e.reason)")
        }
        let values = jsonValueCountUpperBound(data)
        if values > maxTokenizerJSONValues {
            throw TokenizerError.invalid(source: src, detail: "holds about \(values) JSON values; at most \(maxTokenizerJSONValues) accepted")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError.invalid(source: src, detail: "not a JSON object")
        }
        guard let model = root["model"] as? [String: Any] else {
            throw TokenizerError.missingField(field: "model", expected: "an object", source: src)
        }
        guard (model["type"] as? String) == "BPE" else {
            throw TokenizerError.invalid(source: src, detail: "model.type is '\(model["type"] ?? "null")'; mxq reads only BPE")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key] as? String, !v.isEmpty {
                throw TokenizerError.invalid(source: src, detail: "model.\(key) '\(v)' is not supported")
            }
        }
        if let d = model["dropout"], !(d is NSNull) {
            throw TokenizerError.invalid(source: src, detail: "model.dropout is set; BPE dropout is not supported")
        }
        if let n = root["normalizer"], !(n is NSNull) {
            let t = (n as? [String: Any])?["type"] as? String ?? "?"
            throw TokenizerError.invalid(source: src, detail: "normalizer '\(t)' is not supported (expected null)")
        }
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw TokenizerError.missingField(field: "model.vocab", expected: "an object of token → id", source: src)
        }
        var byID: [Int: String] = [:]
        func put(_ tok: String, _ idAny: Any?, field: String) throws {
            guard let id = tokenizerJSONInt(idAny), id >= 0, id < Int(Int32.max) else {
                throw TokenizerError.invalid(source: src, detail: "\(field): id of '\(tok)' is not an integer in 0 ..< 2^31 - 1")
            }
            if let old = byID[id], old != tok {
                throw TokenizerError.invalid(source: src, detail: "\(field): id \(id) is given to both '\(old)' and '\(tok)'")
            }
            byID[id] = tok
        }
        for (tok, idAny) in vocab { try put(tok, idAny, field: "model.vocab") }
        for entry in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let content = entry["content"] as? String else {
                throw TokenizerError.missingField(field: "added_tokens[].content", expected: "a string", source: src)
            }
            try put(content, entry["id"], field: "added_tokens")
        }
        guard let maxID = byID.keys.max() else {
            throw TokenizerError.invalid(source: src, detail: "model.vocab is empty")
        }
        // Ids must be (nearly) dense: unnamed ids get placeholders below, so a single id of
        // 2^31 - 2 in a 1 KB file would otherwise allocate 2^31 strings.
        let maxIDs = 2 * byID.count + 1024
        if maxID >= maxIDs {
            throw TokenizerError.invalid(source: src, detail: "token id \(maxID) is far beyond the \(byID.count) tokens named (ids must be nearly dense: at most \(maxIDs - 1) here)")
        }
        // Ids nobody names get a placeholder (as llama.cpp's converter does), never reachable by encoding.
        let tokens = (0...maxID).map { byID[$0] ?? "[PAD\($0)]" }

        guard let mergesAny = model["merges"] as? [Any] else {
            throw TokenizerError.missingField(field: "model.merges", expected: "an array", source: src)
        }
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(mergesAny.count)
        for (i, m) in mergesAny.enumerated() {
            if let s = m as? String {
                pairs.append(contentsOf: try BPETokenizer.parseMerges([s], source: "\(src) model.merges[\(i)]"))
            } else if let a = m as? [String], a.count == 2 {
                pairs.append((a[0], a[1]))
            } else {
                throw TokenizerError.invalid(source: src, detail: "model.merges[\(i)] is neither \"a b\" nor [a, b]")
            }
        }

        let pre: PreTokenizer
        if let o = override {
            pre = try PreTokenizer(name: o, source: "--pre")
        } else {
            pre = try BPETokenizer.classifyHFPreTokenizer(root["pre_tokenizer"], source: src)
        }

        var bos: Int32? = nil, eos: Int32? = nil
        let configURL = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        if FileManager.default.fileExists(atPath: configURL.path),
           let cdata = Optional(try readRegularFile(configURL.path, maxBytes: maxTokenizerJSONBytes, what: "tokenizer_config.json")),
           let config = (try? JSONSerialization.jsonObject(with: cdata)) as? [String: Any] {
            func special(_ key: String) throws -> Int32? {
                var s = config[key] as? String
                if s == nil, let o = config[key] as? [String: Any] { s = o["content"] as? String }
                guard let s else { return nil }
                guard let i = tokens.firstIndex(of: s) else {
                    throw TokenizerError.invalid(source: configURL.path, detail: "\(key) '\(s)' is not in the vocabulary")
                }
                return Int32(i)
            }
            bos = try special("bos_token")
            eos = try special("eos_token")
        }
        let ignore = (model["ignore_merges"] as? Bool) ?? false
        try self.init(tokens: tokens, mergePairs: pairs, preTokenizer: pre, bosTokenID: bos, eosTokenID: eos,
                      ignoreMerges: ignore, source: src)
    }

    /// Maps a tokenizer.json `pre_tokenizer` object to a supported `PreTokenizer`.
    static func classifyHFPreTokenizer(_ any: Any?, source: String) throws -> PreTokenizer {
        func describe(_ a: Any?) -> String {
            guard let o = a as? [String: Any] else { return "null" }
            let t = o["type"] as? String ?? "?"
            if t == "Sequence", let list = o["pretokenizers"] as? [Any] {
                return "Sequence[" + list.map(describe).joined(separator: ", ") + "]"
            }
            if t == "Digits" { return "Digits(individual_digits: \(o["individual_digits"] as? Bool ?? false))" }
            return t
        }
        func checkByteLevel(_ o: [String: Any]) throws {
            if (o["add_prefix_space"] as? Bool) == true {
                throw TokenizerError.invalid(source: source, detail: "pre_tokenizer ByteLevel add_prefix_space=true is not supported")
            }
            if (o["use_regex"] as? Bool) == false {
                throw TokenizerError.invalid(source: source, detail: "pre_tokenizer ByteLevel use_regex=false is not supported")
            }
        }
        let name = "pre_tokenizer " + describe(any)
        guard let o = any as? [String: Any], let t = o["type"] as? String else {
            throw TokenizerError.unknownPreTokenizer(name: name, source: source)
        }
        if t == "ByteLevel" {
            try checkByteLevel(o)
            return .gpt2
        }
        if t == "Sequence", let list = o["pretokenizers"] as? [[String: Any]], list.count == 2,
           list[0]["type"] as? String == "Digits", list[0]["individual_digits"] as? Bool == true,
           list[1]["type"] as? String == "ByteLevel" {
            try checkByteLevel(list[1])
            return .smollm
        }
        throw TokenizerError.unknownPreTokenizer(name: name, source: source)
    }

    /// The tokenizer for a model path: a GGUF file, a `tokenizer.json`, or a checkpoint
    /// folder holding `tokenizer.json`. `preTokenizer` overrides the file's pre-tokenizer.
    public static func load(model url: URL, preTokenizer: String? = nil) throws -> BPETokenizer {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw TokenizerError.invalid(source: url.path, detail: "no such file or folder")
        }
        if isDir.boolValue {
            let j = url.appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: j.path) else {
                throw TokenizerError.invalid(source: url.path, detail: "folder has no tokenizer.json")
            }
            return try BPETokenizer(tokenizerJSON: j, preTokenizer: preTokenizer)
        }
        if url.pathExtension.lowercased() == "json" {
            return try BPETokenizer(tokenizerJSON: url, preTokenizer: preTokenizer)
        }
        return try loadGGUF(url, preTokenizer: preTokenizer)
    }
}

/// A JSON number that is an exact integer (not a bool, not 1.5, not 1e400), else nil.
func tokenizerJSONInt(_ x: Any?) -> Int? {
    guard let n = x as? NSNumber, String(cString: n.objCType) != "c", type(of: x!) != Bool.self else { return nil }
    let d = n.doubleValue
    guard d.isFinite, abs(d) <= 9_007_199_254_740_992, d == d.rounded() else { return nil }
    return Int(d)
}

/// Largest `tokenizer.json` / `tokenizer_config.json` read (real ones are < 40 MB).
let maxTokenizerJSONBytes = 64 << 20
/// Most JSON values a `tokenizer.json` may hold. Foundation's parser costs ~60 bytes per value
/// (measured: an array of 8M zeros, 16 MB of text, took 479 MB), so this bounds the parse to
/// about 500 MiB whatever the file; real tokenizers hold < 2M values (vocab + merges).
let maxTokenizerJSONValues = 8 << 20

/// An upper bound on the number of values in JSON text: one more than the separators (`,`
/// `:`) and opening brackets outside strings. Linear, no allocation.
func jsonValueCountUpperBound(_ data: Data) -> Int {
    var n = 1, inString = false, escaped = false
    for b in data {
        if inString {
            if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
        } else if b == UInt8(ascii: "\"") {
            inString = true
        } else if b == UInt8(ascii: ",") || b == UInt8(ascii: ":") || b == UInt8(ascii: "[") || b == UInt8(ascii: "{") {
            n += 1
        }
    }
    return n
}
