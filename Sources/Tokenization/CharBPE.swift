// SentencePiece-style BPE in a Hugging Face tokenizer.json (Llama-2, Mistral, TinyLlama as
// converted by `transformers`): a character-level BPE model with ranked merges,
// `byte_fallback` to `<0xNN>` tokens and `fuse_unk`, after
//  - normalizers `Prepend("▁")` (only on a non-empty text) and `Replace(" ", "▁")`
//    (a `Sequence` of them, or one alone), and/or
//  - a `Metaspace` pre-tokenizer: spaces become the replacement; with prepend_scheme
//    `always` (or `first` on the first segment of the text, i.e. not after an added
//    token) the replacement is put in front unless the text already starts with it;
//    `split: true` starts a new word at every replacement character.
// Each word: every scalar becomes its token, else (byte_fallback) one `<0xNN>` token per
// UTF-8 byte (the unknown token if any of them is missing), else the unknown token
// (consecutive unknowns fused into one with fuse_unk); then the ranked merges apply,
// lowest rank first, leftmost among equals (as `tokenizers`' BPE model does).

import Support

struct CharBPE: Sendable {
    enum Normalizer: Sendable { case prepend(String), replace(String, String) }
    struct Metaspace: Sendable {
        let replacement: String
        /// "always", "first" or "never".
        let prependScheme: String
        let split: Bool
    }
    let normalizers: [Normalizer]
    let metaspace: Metaspace?
    let byteFallback: Bool
    let fuseUnk: Bool
    let unkID: Int32?
    /// `<0xNN>` token of each byte, -1 when absent.
    let byteIDs: [Int32]
    let name: String

    init(normalizers: [Normalizer], metaspace: Metaspace?, byteFallback: Bool, fuseUnk: Bool, unkID: Int32?,
         tokens: [String]) {
        self.normalizers = normalizers; self.metaspace = metaspace
        self.byteFallback = byteFallback; self.fuseUnk = fuseUnk; self.unkID = unkID
        var b = [Int32](repeating: -1, count: 256)
        for (i, t) in tokens.enumerated() {
            if let v = SentencePieceModel.byteValue(t), b[Int(v)] < 0 { b[Int(v)] = Int32(i) }
        }
        byteIDs = b
        var parts: [String] = normalizers.map {
            switch $0 { case .prepend: return "Prepend"; case .replace: return "Replace" }
        }
        if metaspace != nil { parts.append("Metaspace") }
        name = "char-bpe(" + (parts.isEmpty ? "none" : parts.joined(separator: "+")) + ")"
    }

    /// The text bytes a token stands for ("▁" → space, `<0xNN>` → the byte).
    static func bytes(ofToken t: String) -> [UInt8] {
        if let v = SentencePieceModel.byteValue(t) { return [v] }
        return Array(replacing(t, "\u{2581}", " ").utf8)
    }

    /// Every occurrence of `a` in `s` replaced by `b`, compared as UTF-8 bytes (so scalar by
    /// scalar: Foundation's replacingOccurrences compares grapheme clusters and misses a
    /// space followed by a combining mark).
    static func replacing(_ s: String, _ a: String, _ b: String) -> String {
        let src = Array(s.utf8), pa = Array(a.utf8), pb = Array(b.utf8)
        guard !pa.isEmpty, src.count >= pa.count else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(src.count + src.count / 2)
        var i = 0
        while i < src.count {
            if src[i] == pa[0] && i + pa.count <= src.count && src[i..<(i + pa.count)].elementsEqual(pa) {
                out += pb; i += pa.count
            } else {
                out.append(src[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The words of one text segment after normalization and pre-tokenization.
    func words(_ text: String, isFirst: Bool) -> [String] {
        var s = text
        for n in normalizers {
            switch n {
            case .prepend(let p): if !s.isEmpty { s = p + s }
            case .replace(let a, let b): s = CharBPE.replacing(s, a, b)
            }
        }
        guard let m = metaspace else { return s.isEmpty ? [] : [s] }
        s = CharBPE.replacing(s, " ", m.replacement)
        if (m.prependScheme == "always" || (m.prependScheme == "first" && isFirst)) && !s.utf8.starts(with: m.replacement.utf8) && !s.isEmpty {
            s = m.replacement + s
        }
        if s.isEmpty { return [] }
        guard m.split, let r = m.replacement.unicodeScalars.first, m.replacement.unicodeScalars.count == 1 else { return [s] }
        var out: [String] = []
        var cur = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if u == r && !cur.isEmpty { out.append(String(cur)); cur = String.UnicodeScalarView() }
            cur.append(u)
        }
        if !cur.isEmpty { out.append(String(cur)) }
        return out
    }
}

extension BPETokenizer {
    /// Ids of one segment with the char-level model (see CharBPE).
    func encodeCharBPE(_ text: String, _ model: CharBPE, isFirst: Bool) -> [Int32] {
        var out: [Int32] = []
        for w in model.words(text, isFirst: isFirst) {
            var ids: [Int32] = []
            var prevUnk = false
            for u in w.unicodeScalars {
                // (String keys compare canonically: insist on the very scalar, as tokenizers does)
                let str = String(u)
                if let id = id(of: str), tokens[Int(id)].unicodeScalars.elementsEqual(str.unicodeScalars) {
                    ids.append(id); prevUnk = false; continue
                }
                if model.byteFallback {
                    let bs = Array(String(u).utf8)
                    if bs.allSatisfy({ model.byteIDs[Int($0)] >= 0 }) {
                        for b in bs { ids.append(model.byteIDs[Int(b)]) }
                        prevUnk = false
                        continue
                    }
                }
                guard let unk = model.unkID else { continue }   // no unk token: the scalar is dropped
                if !(model.fuseUnk && prevUnk) { ids.append(unk) }
                prevUnk = true
            }
            // Stretches between ids that occur in no merge are merged independently (same result).
            var cache: [[Int32]: [Int32]] = [:]
            var a = 0
            for (k, id) in ids.enumerated() where !inSomeMerge[Int(id)] {
                if k > a {
                    let run = Array(ids[a..<k])
                    if let c = cache[run] { out += c } else { let m = mergeIDs(run); cache[run] = m; out += m }
                }
                out.append(id)
                a = k + 1
            }
            if a < ids.count { out += mergeIDs(Array(ids[a...])) }
        }
        return out
    }
}
