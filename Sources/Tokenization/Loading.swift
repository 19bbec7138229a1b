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
        // SentencePiece-style models (CharBPE.swift): byte fallback, Prepend/Replace normalizers, Metaspace.
        let nfc = (root["normalizer"] as? [String: Any])?["type"] as? String == "NFC"   // Qwen2
        let normalizers = nfc ? [] : try BPETokenizer.charBPENormalizers(root["normalizer"], source: src)
        let metaspace = try BPETokenizer.metaspace(root["pre_tokenizer"], source: src)
        let charMode = (model["byte_fallback"] as? Bool) == true || !normalizers.isEmpty || metaspace != nil
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
        var added: [AddedToken] = []
        for entry in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let content = entry["content"] as? String else {
                throw TokenizerError.missingField(field: "added_tokens[].content", expected: "a string", source: src)
            }
            try put(content, entry["id"], field: "added_tokens")
            if let id = (entry["id"] as? NSNumber)?.intValue {
                added.append(AddedToken(content: Array(content.utf8), id: Int32(id),
                                        lstrip: entry["lstrip"] as? Bool ?? false, rstrip: entry["rstrip"] as? Bool ?? false,
                                        singleWord: entry["single_word"] as? Bool ?? false))
            }
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

        var pre: PreTokenizer = .gpt2
        var pipeline: SplitPipeline? = nil
        var charBPE: CharBPE? = nil
        if charMode {
            if let o = override {
                throw TokenizerError.invalid(source: src, detail: "--pre \(o) does not apply to a SentencePiece-style (byte_fallback/Metaspace) tokenizer.json")
            }
            if let p = root["pre_tokenizer"], !(p is NSNull), metaspace == nil {
                let t = (p as? [String: Any])?["type"] as? String ?? "?"
                throw TokenizerError.invalid(source: src, detail: "pre_tokenizer '\(t)' with a SentencePiece-style model is not supported (expected null or Metaspace)")
            }
            var unk: Int32? = nil
            if let u = model["unk_token"] as? String {
                guard let i = byID.first(where: { $0.value == u })?.key else {
                    throw TokenizerError.invalid(source: src, detail: "model.unk_token '\(u)' is not in the vocabulary")
                }
                unk = Int32(i)
            }
            charBPE = CharBPE(normalizers: normalizers, metaspace: metaspace, byteFallback: (model["byte_fallback"] as? Bool) ?? false,
                              fuseUnk: (model["fuse_unk"] as? Bool) ?? false, unkID: unk, tokens: tokens)
        } else if nfc {
            if let o = override {
                throw TokenizerError.invalid(source: src, detail: "--pre \(o) cannot be combined with the file's NFC normalizer")
            }
            guard let p = try BPETokenizer.splitPipeline(root["pre_tokenizer"], source: src, nfc: true) else {
                throw TokenizerError.invalid(source: src, detail: "normalizer NFC is supported only with Split/Digits/ByteLevel pre-tokenizers")
            }
            pipeline = p
        } else if let o = override {
            pre = try PreTokenizer(name: o, source: "--pre")
        } else {
            do {
                pre = try BPETokenizer.classifyHFPreTokenizer(root["pre_tokenizer"], source: src)
            } catch let e as TokenizerError {
                // Not one of the hand-written scanners: a Split/Digits/ByteLevel sequence (SplitPipeline.swift).
                guard let p = try BPETokenizer.splitPipeline(root["pre_tokenizer"], source: src) else { throw e }
                pipeline = p
            }
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
                      ignoreMerges: ignore, source: src, pipeline: pipeline, addedTokens: added, sentencePiece: nil,
                      charBPE: charBPE)
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
            let m = url.appendingPathComponent("tokenizer.model")
            if !FileManager.default.fileExists(atPath: j.path) && FileManager.default.fileExists(atPath: m.path) {
                return try loadSentencePiece(m, preTokenizer: preTokenizer)
            }
            guard FileManager.default.fileExists(atPath: j.path) else {
                throw TokenizerError.invalid(source: url.path, detail: "folder has neither tokenizer.json nor tokenizer.model")
            }
            return try BPETokenizer(tokenizerJSON: j, preTokenizer: preTokenizer)
        }
        if url.pathExtension.lowercased() == "json" {
            return try BPETokenizer(tokenizerJSON: url, preTokenizer: preTokenizer)
        }
        if isSentencePieceFile(url) {
            return try loadSentencePiece(url, preTokenizer: preTokenizer)
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

extension BPETokenizer {
    /// A `tokenizer.model` path (by name: `*.model`, `*.model.v1`, ...) rather than a GGUF
    /// (which starts with the magic "GGUF").
    static func isSentencePieceFile(_ url: URL) -> Bool {
        if let h = FileHandle(forReadingAtPath: url.path) {
            defer { try? h.close() }
            if let d = try? h.read(upToCount: 4), d == Data("GGUF".utf8) { return false }
        }
        let name = url.lastPathComponent.lowercased()
        return name.hasSuffix(".model") || name.contains(".model.")
    }

    static func loadSentencePiece(_ url: URL, preTokenizer: String?) throws -> BPETokenizer {
        if let p = preTokenizer {
            throw TokenizerError.invalid(source: url.path, detail: "--pre \(p) does not apply to a SentencePiece model")
        }
        return try BPETokenizer(sentencePieceModel: url)
    }

    /// A `SplitPipeline` for a tokenizer.json pre_tokenizer made of `Split` (Regex or String
    /// pattern), `Digits` and `ByteLevel` steps, alone or in a `Sequence`; nil when it has
    /// anything else. `ByteLevel` must have `add_prefix_space: false`; with `use_regex: true`
    /// it splits with the GPT-2 pattern, with `use_regex: false` it only maps bytes.
    static func splitPipeline(_ any: Any?, source: String, nfc: Bool = false) throws -> SplitPipeline? {
        guard let o = any as? [String: Any], let t = o["type"] as? String else { return nil }
        var list: [[String: Any]]
        if t == "Sequence" {
            guard let l = o["pretokenizers"] as? [[String: Any]] else { return nil }
            list = l
        } else {
            list = [o]
        }
        var steps: [SplitPipeline.Step] = []
        var names: [String] = []
        for (i, step) in list.enumerated() {
            let field = "pre_tokenizer" + (t == "Sequence" ? ".pretokenizers[\(i)]" : "")
            switch step["type"] as? String {
            case "Split":
                let pat = step["pattern"] as? [String: Any]
                let regex: Regex
                if let r = pat?["Regex"] as? String {
                    regex = try Regex(r, source: "\(source) \(field).pattern.Regex")
                } else if let s = pat?["String"] as? String, !s.isEmpty {
                    var esc = ""
                    for u in s.unicodeScalars {
                        if u.isASCII && !u.properties.isAlphabetic && !(0x30...0x39).contains(u.value) && u != " " {
                            esc += "\\"
                        }
                        esc.unicodeScalars.append(u)
                    }
                    regex = try Regex(esc, source: "\(source) \(field).pattern.String")
                } else {
                    throw TokenizerError.missingField(field: "\(field).pattern", expected: "{\"Regex\": ...} or {\"String\": ...}", source: source)
                }
                guard let bs = step["behavior"] as? String, let b = SplitPipeline.Behavior(rawValue: bs) else {
                    throw TokenizerError.missingField(field: "\(field).behavior", expected: "Isolated, Removed, MergedWithPrevious, MergedWithNext or Contiguous", source: source)
                }
                steps.append(.init(regex: regex, behavior: b, invert: step["invert"] as? Bool ?? false))
                names.append("Split(\(b.rawValue))")
            case "Digits":
                let ind = step["individual_digits"] as? Bool ?? false
                steps.append(.init(regex: try Regex(ind ? "\\p{N}" : "\\p{N}+", source: source), behavior: .isolated, invert: false))
                names.append("Digits")
            case "ByteLevel":
                if (step["add_prefix_space"] as? Bool) == true {
                    throw TokenizerError.invalid(source: source, detail: "\(field) ByteLevel add_prefix_space=true is not supported")
                }
                if (step["use_regex"] as? Bool) ?? true {
                    steps.append(.init(regex: try Regex(SplitPipeline.gpt2Pattern, source: source), behavior: .isolated, invert: false))
                    names.append("ByteLevel(regex)")
                } else {
                    names.append("ByteLevel")
                }
            default:
                return nil
            }
        }
        return SplitPipeline(steps: steps, name: names.joined(separator: "+"), nfc: nfc)
    }
}

extension BPETokenizer {
    /// tokenizer.json `normalizer`: null, `Prepend`, `Replace` with a String pattern, or a
    /// `Sequence` of those; anything else is a `TokenizerError`.
    static func charBPENormalizers(_ any: Any?, source: String) throws -> [CharBPE.Normalizer] {
        guard let any, !(any is NSNull) else { return [] }
        guard let o = any as? [String: Any], let t = o["type"] as? String else {
            throw TokenizerError.missingField(field: "normalizer", expected: "null or an object with a type", source: source)
        }
        func unsupported(_ what: String) -> TokenizerError {
            .invalid(source: source, detail: "normalizer \(what) is not supported (expected null, Prepend, Replace with a String pattern, or a Sequence of them)")
        }
        switch t {
        case "Sequence":
            guard let list = o["normalizers"] as? [Any] else { throw unsupported("Sequence without 'normalizers'") }
            return try list.flatMap { try charBPENormalizers($0, source: source) }
        case "Prepend":
            guard let p = o["prepend"] as? String else { throw unsupported("Prepend without 'prepend'") }
            return [.prepend(p)]
        case "Replace":
            guard let pat = (o["pattern"] as? [String: Any])?["String"] as? String, let c = o["content"] as? String else {
                throw unsupported("Replace without a String pattern and content")
            }
            return [.replace(pat, c)]
        default:
            throw unsupported("'\(t)'")
        }
    }

    /// tokenizer.json `pre_tokenizer` of type `Metaspace` (nil for any other).
    static func metaspace(_ any: Any?, source: String) throws -> CharBPE.Metaspace? {
        guard let o = any as? [String: Any], o["type"] as? String == "Metaspace" else { return nil }
        let r = o["replacement"] as? String ?? "\u{2581}"
        var scheme = o["prepend_scheme"] as? String ?? ((o["add_prefix_space"] as? Bool ?? true) ? "always" : "never")
        if !["always", "first", "never"].contains(scheme) {
            throw TokenizerError.invalid(source: source, detail: "pre_tokenizer Metaspace prepend_scheme '\(scheme)' (expected always, first or never)")
        }
        if o["prepend_scheme"] == nil, let a = o["add_prefix_space"] as? Bool { scheme = a ? "always" : "never" }
        return CharBPE.Metaspace(replacement: r, prependScheme: scheme, split: o["split"] as? Bool ?? true)
    }
}
