// Byte-level BPE (GPT-2 style): pre-tokenize, map each piece's UTF-8 bytes to
// single-byte tokens, then merge adjacent pairs by rank until none applies.
//
// Merge order: always the applicable pair with the lowest rank, and among equal
// ranks the leftmost one (what Hugging Face `tokenizers` and llama.cpp do).
// `bpeReference` does this literally (rescan after every merge); `bpe` does the same
// with a heap over (rank, position) and a linked list, and is checked against it.

import Support

/// A byte-level BPE tokenizer (GPT-2 byte alphabet), immutable after construction and
/// safe to use from several threads.
///
/// Token ids are `Int32` in `0..<vocabSize`. `encode` adds no BOS/EOS and does not
/// parse special-token strings in the text (they are encoded as plain text, like
/// llama.cpp with `parse_special = false`).
///
/// Bytes without a single-byte token are dropped before merging, as Hugging Face
/// `tokenizers` does for a BPE model without `unk_token`/byte fallback (SmolLM2's
/// vocabulary lacks the control bytes 0x04 0x06 0x13 0x14 0x16 0x1D and the 4-byte
/// lead bytes 0xF1 0xF2). `droppedByteCount(in:)` says how many a text has; only
/// texts without such bytes round-trip through `decode(encode(_:))`.
public final class BPETokenizer: Sendable {
    /// Vocabulary strings in the byte-level alphabet, indexed by id.
    public let tokens: [String]
    public let preTokenizer: PreTokenizer
    public let bosTokenID: Int32?
    public let eosTokenID: Int32?
    /// Hugging Face `ignore_merges`: a piece that is itself a token is emitted as is.
    public let ignoreMerges: Bool
    /// Where the tokenizer came from (file path or `<memory>`), for messages.
    public let source: String
    /// Name of the pre-tokenization in use, for messages: `preTokenizer.rawValue`, or a
    /// description of the file's own pipeline (`Split(regex)`, `sentencepiece`, ...).
    public let preTokenizerName: String

    /// A tokenizer.json pre-tokenizer that is not one of `PreTokenizer`'s scanners (then
    /// `preTokenizer` is unused). Set by the tokenizer.json loader.
    let pipeline: SplitPipeline?
    /// Added tokens matched in the text before pre-tokenization (tokenizer.json only).
    let addedTokens: AddedTokenMatcher?
    /// A SentencePiece-style model (then the byte-level tables are unused).
    let sentencePiece: SentencePieceModel?
    /// A SentencePiece-style (character-level, byte-fallback) BPE from a tokenizer.json.
    let charBPE: CharBPE?
    /// With `charBPE`: whether each id occurs in some merge (as left or right); an id that
    /// does not can never merge, so it separates independent stretches of a word.
    let inSomeMerge: [Bool]

    let tokenToID: [String: Int32]
    /// Raw bytes of each token (for decoding).
    let tokenBytes: [[UInt8]]
    /// Token of each single byte; -1 when the vocabulary has none (the byte is dropped).
    let byteToken: [Int32]
    /// (left << 32 | right) → (rank << 32 | merged id), ids as UInt32 bit patterns.
    let mergeTable: [UInt64: UInt64]

    public var vocabSize: Int { tokens.count }

    /// Builds a tokenizer from a vocabulary (id = index) and ranked merges (rank = index,
    /// each "left right" with one space). Throws `TokenizerError` naming the bad entry
    /// when a merge is malformed or names tokens not in the vocabulary, or when a
    /// printable ASCII byte (0x20...0x7E) has no single-byte token (then it is not a
    /// byte-level vocabulary).
    public convenience init(tokens: [String], merges: [String], preTokenizer: String,
                            bosTokenID: Int32? = nil, eosTokenID: Int32? = nil,
                            ignoreMerges: Bool = false, source: String = "<memory>") throws {
        let pre = try PreTokenizer(name: preTokenizer, source: source)
        let pairs = try BPETokenizer.parseMerges(merges, source: source)
        try self.init(tokens: tokens, mergePairs: pairs, preTokenizer: pre, bosTokenID: bosTokenID,
                      eosTokenID: eosTokenID, ignoreMerges: ignoreMerges, source: source)
    }

    /// As above with merges already split into pairs.
    public convenience init(tokens: [String], mergePairs: [(String, String)], preTokenizer: PreTokenizer,
                            bosTokenID: Int32? = nil, eosTokenID: Int32? = nil,
                            ignoreMerges: Bool = false, source: String = "<memory>") throws {
        try self.init(tokens: tokens, mergePairs: mergePairs, preTokenizer: preTokenizer, bosTokenID: bosTokenID,
                      eosTokenID: eosTokenID, ignoreMerges: ignoreMerges, source: source,
                      pipeline: nil, addedTokens: [], sentencePiece: nil, charBPE: nil)
    }

    /// The general form: `pipeline` replaces `preTokenizer`; `addedTokens` are matched in
    /// the text first; with `sentencePiece` the model encodes (merges must be empty and the
    /// vocabulary need not be byte-level).
    init(tokens: [String], mergePairs: [(String, String)], preTokenizer: PreTokenizer,
         bosTokenID: Int32?, eosTokenID: Int32?, ignoreMerges: Bool, source: String,
         pipeline: SplitPipeline?, addedTokens: [AddedToken], sentencePiece: SentencePieceModel?,
         charBPE: CharBPE? = nil) throws {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else {
            throw TokenizerError.invalid(source: source, detail: "vocabulary has \(tokens.count) tokens (expected 1 ..< 2^31)")
        }
        for (name, id) in [("BOS", bosTokenID), ("EOS", eosTokenID)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw TokenizerError.invalid(source: source, detail: "\(name) token id \(id) is outside the vocabulary (0..<\(tokens.count))")
            }
        }
        var toID: [String: Int32] = [:]
        toID.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where toID[t] == nil { toID[t] = Int32(i) }  // first occurrence wins

        var byteToken = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            if sentencePiece != nil || charBPE != nil { break }
            if let id = toID[String(ByteLevel.scalarOfByte[b])] {
                byteToken[b] = id
            } else if (0x20...0x7E).contains(b) {
                let hex = String(b, radix: 16, uppercase: true)
                throw TokenizerError.invalid(source: source, detail: "vocabulary has no token for byte 0x"
                    + (hex.count < 2 ? "0" : "") + hex + " ('\(ByteLevel.scalarOfByte[b])'); not a byte-level BPE vocabulary")
            }
        }

        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(mergePairs.count)
        for (rank, (l, r)) in mergePairs.enumerated() {
            guard let li = toID[l], let ri = toID[r] else {
                throw TokenizerError.invalid(source: source, detail: "merge #\(rank) '\(l) \(r)' names a token that is not in the vocabulary")
            }
            guard let mi = toID[l + r] else {
                throw TokenizerError.invalid(source: source, detail: "merge #\(rank) '\(l) \(r)': the merged token '\(l + r)' is not in the vocabulary")
            }
            let key = UInt64(UInt32(bitPattern: li)) << 32 | UInt64(UInt32(bitPattern: ri))
            if table[key] == nil {   // a repeated pair keeps its first (lowest) rank
                table[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: mi))
            }
        }

        self.tokens = tokens
        self.preTokenizer = preTokenizer
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.ignoreMerges = ignoreMerges
        self.source = source
        self.pipeline = pipeline
        self.sentencePiece = sentencePiece
        self.charBPE = charBPE
        for a in addedTokens where a.id < 0 || Int(a.id) >= tokens.count {
            throw TokenizerError.invalid(source: source, detail: "added token id \(a.id) is outside the vocabulary (0..<\(tokens.count))")
        }
        self.addedTokens = addedTokens.isEmpty ? nil : AddedTokenMatcher(addedTokens)
        self.preTokenizerName = sentencePiece?.name ?? charBPE?.name ?? pipeline?.name ?? preTokenizer.rawValue
        self.tokenToID = toID
        if let sp = sentencePiece {
            self.tokenBytes = tokens.indices.map { sp.bytes(ofPiece: $0, tokens[$0]) }
        } else if charBPE != nil {
            self.tokenBytes = tokens.map { CharBPE.bytes(ofToken: $0) }
        } else {
            self.tokenBytes = tokens.map { ByteLevel.bytes(ofToken: $0) }
        }
        var inMerge = [Bool](repeating: false, count: charBPE == nil ? 0 : tokens.count)
        if charBPE != nil {
            for k in table.keys {
                inMerge[Int(UInt32(truncatingIfNeeded: k >> 32))] = true
                inMerge[Int(UInt32(truncatingIfNeeded: k))] = true
            }
        }
        self.inSomeMerge = inMerge
        self.byteToken = byteToken
        self.mergeTable = table
    }

    /// The same vocabulary and merges with another pre-tokenizer (tables are shared, no re-parsing).
    public func with(preTokenizer pre: PreTokenizer) -> BPETokenizer {
        BPETokenizer(copying: self, preTokenizer: pre)
    }

    private init(copying o: BPETokenizer, preTokenizer: PreTokenizer) {
        tokens = o.tokens; self.preTokenizer = preTokenizer; bosTokenID = o.bosTokenID; eosTokenID = o.eosTokenID
        ignoreMerges = o.ignoreMerges; source = o.source; tokenToID = o.tokenToID; tokenBytes = o.tokenBytes
        pipeline = nil; addedTokens = o.addedTokens; sentencePiece = o.sentencePiece; charBPE = o.charBPE
        inSomeMerge = o.inSomeMerge
        preTokenizerName = o.sentencePiece?.name ?? o.charBPE?.name ?? preTokenizer.rawValue
        byteToken = o.byteToken; mergeTable = o.mergeTable
    }

    /// Splits "left right" merge lines (exactly one space separating two non-empty tokens).
    static func parseMerges(_ merges: [String], source: String) throws -> [(String, String)] {
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (i, m) in merges.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.invalid(source: source, detail: "merge #\(i) '\(m)' is not two tokens separated by one space")
            }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        return pairs
    }

    /// The id of a vocabulary string (byte-level alphabet), if present.
    public func id(of token: String) -> Int32? { tokenToID[token] }

    // MARK: Encoding

    /// Token ids of `text` (no BOS/EOS). Deterministic; pieces that repeat are
    /// encoded once per call (a per-call cache, so concurrent calls share nothing).
    /// Throws `TokenizerError.regexStepBudget` when a tokenizer.json `Split` pattern backtracks
    /// catastrophically on `text` (never for the hand-written scanners or SentencePiece).
    public func encode(_ text: String) throws -> [Int32] {
        guard let added = addedTokens else { return try encodeSegment(text, isFirst: true) }
        let bytes = Array(text.utf8)
        var out: [Int32] = []
        for seg in added.segments(bytes) {
            switch seg {
            case .token(let id): out.append(id)
            case .text(let r): out += try encodeSegment(String(decoding: bytes[r], as: UTF8.self), isFirst: r.lowerBound == 0)
            }
        }
        return out
    }

    /// Ids of a text without added tokens; `isFirst`: the segment starts the text.
    func encodeSegment(_ text: String, isFirst: Bool) throws -> [Int32] {
        if let sp = sentencePiece { return sp.encode(text) }
        if let cb = charBPE { return encodeCharBPE(text, cb, isFirst: isFirst) }
        if let pipeline { return try encodePipeline(text, pipeline) }
        let scanned = ScannedText(text)
        var out: [Int32] = []
        out.reserveCapacity(scanned.bytes.count / 3 + 16)
        var cache: [[UInt8]: [Int32]] = [:]
        let bytes = scanned.bytes, off = scanned.offsets
        preTokenizer.split(scanned) { lo, hi in
            let a = off[lo], b = off[hi]
            if b - a == 1 {
                let t = byteToken[Int(bytes[a])]
                if t >= 0 { out.append(t) }
                return
            }
            let piece = Array(bytes[a..<b])
            if let ids = cache[piece] {
                out.append(contentsOf: ids)
                return
            }
            let ids = bpe(piece)
            cache[piece] = ids
            out.append(contentsOf: ids)
        }
        return out
    }

    /// Byte-level BPE of the pieces `pipeline` cuts.
    private func encodePipeline(_ raw: String, _ pipeline: SplitPipeline) throws -> [Int32] {
        let text = pipeline.normalize(raw)
        var vals: [UInt32] = [], masks: [UInt32] = [], off: [Int] = []
        let bytes = Array(text.utf8)
        vals.reserveCapacity(bytes.count); masks.reserveCapacity(bytes.count); off.reserveCapacity(bytes.count + 1)
        var pos = 0
        for u in text.unicodeScalars {
            vals.append(u.value); masks.append(ScalarProps.mask(u)); off.append(pos)
            pos += UTF8.width(u)
        }
        off.append(pos)
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3 + 16)
        var cache: [[UInt8]: [Int32]] = [:]
        try vals.withUnsafeBufferPointer { s in
            try masks.withUnsafeBufferPointer { m in
                try pipeline.split(s: s, m: m) { lo, hi in
                    let a = off[lo], b = off[hi]
                    if b - a == 1 {
                        let t = byteToken[Int(bytes[a])]
                        if t >= 0 { out.append(t) }
                        return
                    }
                    let piece = Array(bytes[a..<b])
                    if let ids = cache[piece] { out.append(contentsOf: ids); return }
                    let ids = bpe(piece)
                    cache[piece] = ids
                    out.append(contentsOf: ids)
                }
            }
        }
        return out
    }

    /// How many bytes of `text` have no single-byte token (`encode` drops them).
    public func droppedByteCount(in text: String) -> Int {
        if sentencePiece != nil || charBPE != nil { return 0 }
        var n = 0
        for b in text.utf8 where byteToken[Int(b)] < 0 { n += 1 }
        return n
    }

    /// The pre-tokenizer's pieces of `text` (for inspection and tests).
    public func preTokenize(_ text: String) throws -> [String] {
        if let pipeline {
            let sc = Array(pipeline.normalize(text).unicodeScalars)
            let vals = sc.map(\.value), masks = sc.map(ScalarProps.mask)
            var pieces: [String] = []
            try vals.withUnsafeBufferPointer { s in
                try masks.withUnsafeBufferPointer { m in
                    try pipeline.split(s: s, m: m) { lo, hi in
                        var v = String.UnicodeScalarView(); v.append(contentsOf: sc[lo..<hi]); pieces.append(String(v))
                    }
                }
            }
            return pieces
        }
        let scanned = ScannedText(text)
        var pieces: [String] = []
        preTokenizer.split(scanned) { lo, hi in
            pieces.append(String(decoding: scanned.bytes[scanned.offsets[lo]..<scanned.offsets[hi]], as: UTF8.self))
        }
        return pieces
    }

    @inline(__always)
    func merge(_ l: Int32, _ r: Int32) -> (rank: UInt32, id: Int32)? {
        guard let v = mergeTable[UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))] else { return nil }
        return (UInt32(truncatingIfNeeded: v >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: v)))
    }

    /// Single-byte tokens of `piece`, skipping bytes that have none.
    private func initialIDs(_ piece: [UInt8]) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(piece.count)
        for b in piece {
            let t = byteToken[Int(b)]
            if t >= 0 { ids.append(t) }
        }
        return ids
    }

    /// BPE of one piece's bytes: heap over (rank, position), linked list of symbols.
    func bpe(_ piece: [UInt8]) -> [Int32] {
        if ignoreMerges, let whole = tokenToID[ByteLevel.string(ofBytes: piece)] { return [whole] }
        return mergeIDs(initialIDs(piece))
    }

    /// The ranked merges applied to a sequence of ids (heap over (rank, position), linked list).
    func mergeIDs(_ initial: [Int32]) -> [Int32] {
        var ids = initial
        let n = ids.count
        if n < 2 { return ids }
        var next = [Int](1...n)          // n = none
        var prev = [Int](-1..<(n - 1))   // -1 = none
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            if let m = merge(ids[i], ids[i + 1]) { heap.push(UInt64(m.rank) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = UInt32(truncatingIfNeeded: top >> 32)
            let i = Int(top & 0xFFFF_FFFF)
            guard ids[i] >= 0 else { continue }          // absorbed by a left neighbour
            let j = next[i]
            guard j < n, let m = merge(ids[i], ids[j]), m.rank == rank else { continue }  // stale entry
            ids[i] = m.id
            ids[j] = -1
            let k = next[j]
            next[i] = k
            if k < n { prev[k] = i }
            if prev[i] >= 0, let p = merge(ids[prev[i]], ids[i]) { heap.push(UInt64(p.rank) << 32 | UInt64(prev[i])) }
            if k < n, let q = merge(ids[i], ids[k]) { heap.push(UInt64(q.rank) << 32 | UInt64(i)) }
        }
        var out: [Int32] = []
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
        return out
    }

    /// Plain reference BPE: after every merge, rescan for the lowest-rank, leftmost pair.
    func bpeReference(_ piece: [UInt8]) -> [Int32] {
        if ignoreMerges, let whole = tokenToID[ByteLevel.string(ofBytes: piece)] { return [whole] }
        var ids = initialIDs(piece)
        while ids.count >= 2 {
            var best: (rank: UInt32, pos: Int, id: Int32)? = nil
            for i in 0..<(ids.count - 1) {
                if let m = merge(ids[i], ids[i + 1]), best == nil || m.rank < best!.rank {
                    best = (m.rank, i, m.id)
                }
            }
            guard let b = best else { break }
            ids[b.pos] = b.id
            ids.remove(at: b.pos + 1)
        }
        return ids
    }

    // MARK: Decoding

    /// The raw bytes of `ids` concatenated. Precondition: every id is in `0..<vocabSize`.
    public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids {
            precondition(id >= 0 && Int(id) < tokenBytes.count, "token id \(id) outside the vocabulary")
            out.append(contentsOf: tokenBytes[Int(id)])
        }
        return out
    }

    /// The text of `ids` (invalid UTF-8, e.g. from a cut multi-byte character, becomes U+FFFD).
    /// `decode(encode(s)) == s` for every string `s`.
    public func decode(_ ids: [Int32]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }
}

/// Binary min-heap of UInt64 keys.
struct MinHeap {
    private var a: [UInt64] = []

    mutating func push(_ x: UInt64) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if a[p] <= a[i] { break }
            a.swapAt(p, i); i = p
        }
    }

    mutating func pop() -> UInt64? {
        guard let top = a.first else { return nil }
        let last = a.removeLast()
        if !a.isEmpty {
            a[0] = last
            var i = 0
            let n = a.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < n && a[l] < a[m] { m = l }
                if r < n && a[r] < a[m] { m = r }
                if m == i { break }
                a.swapAt(i, m); i = m
            }
        }
        return top
    }
}
