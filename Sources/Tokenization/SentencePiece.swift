// SentencePiece BPE: reading a `tokenizer.model` (ModelProto protobuf) and encoding the
// way the `sentencepiece` library's BPE model does.
//
// Encoding (sentencepiece normalizer.cc, bpe_model.cc, sentencepiece_processor.cc):
//  1. Normalize: only the identity normalizer is supported (an empty precompiled
//     charsmap; Llama-2 / Mistral use it). `remove_extra_whitespaces` strips leading and
//     trailing U+0020 and collapses runs of them; `add_dummy_prefix` puts one "▁" before a
//     non-empty text; `escape_whitespaces` turns every U+0020 into "▁" (U+2581). Other
//     whitespace (\n, \t) is left as is.
//  2. Cut the text into characters (user-defined pieces are taken whole, longest first).
//  3. Repeatedly merge the adjacent pair whose concatenation is a NORMAL, USER_DEFINED or
//     UNUSED piece with the highest score; ties go to the leftmost pair. The whole text is
//     one sequence (no split at spaces: a merge can never cross a space anyway unless the
//     vocabulary has such a piece).
//  4. Each final symbol becomes its id; a symbol that is not a piece becomes its UTF-8
//     bytes as `<0xNN>` pieces when `byte_fallback` is set, else the unknown id, with runs
//     of unknown ids fused into one.
// Control and unknown pieces (`<s>`, `</s>`, `<unk>`) are never matched in the text.

import Foundation
import ModelIO
import Support

/// A SentencePiece BPE model, immutable.
struct SentencePieceModel: Sendable {
    enum PieceType: UInt8, Sendable { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    let pieces: [String]
    let scores: [Float]
    let types: [PieceType]
    let addDummyPrefix: Bool
    let removeExtraWhitespaces: Bool
    let escapeWhitespaces: Bool
    let byteFallback: Bool
    let unkID: Int32
    let bosID: Int32?
    let eosID: Int32?
    /// Description for messages.
    let name: String

    /// Pieces that merges may produce (NORMAL, USER_DEFINED, UNUSED): byte hash → ids.
    private let mergeable: ByteTable
    /// All pieces (reserved ones first, as `PieceToId` looks them up).
    private let all: ByteTable
    /// Id of `<0xNN>` for each byte, -1 when absent.
    private let byteIDs: [Int32]
    /// User-defined pieces, matched whole when cutting the text into characters.
    private let userDefined: [[UInt8]]
    /// Scalars that occur in a mergeable piece of two or more scalars (others never merge).
    private let scalarsInMulti: Set<UInt32>
    private let asciiInMulti: [Bool]

    init(pieces: [String], scores: [Float], types: [PieceType], addDummyPrefix: Bool, removeExtraWhitespaces: Bool,
         escapeWhitespaces: Bool, byteFallback: Bool, unkID: Int32, bosID: Int32?, eosID: Int32?, name: String,
         source: String) throws {
        precondition(pieces.count == scores.count && pieces.count == types.count)
        guard !pieces.isEmpty, pieces.count < Int(Int32.max) else {
            throw TokenizerError.invalid(source: source, detail: "the model has \(pieces.count) pieces (expected 1 ..< 2^31)")
        }
        guard unkID >= 0, Int(unkID) < pieces.count else {
            throw TokenizerError.invalid(source: source, detail: "unk_id \(unkID) is outside the vocabulary (0..<\(pieces.count))")
        }
        self.pieces = pieces; self.scores = scores; self.types = types
        self.addDummyPrefix = addDummyPrefix; self.removeExtraWhitespaces = removeExtraWhitespaces
        self.escapeWhitespaces = escapeWhitespaces; self.byteFallback = byteFallback
        self.unkID = unkID; self.bosID = bosID; self.eosID = eosID; self.name = name
        var merge = ByteTable(), every = ByteTable()
        var bytes = [Int32](repeating: -1, count: 256)
        var user: [[UInt8]] = []
        for (i, p) in pieces.enumerated() {
            let b = Array(p.utf8)
            switch types[i] {
            case .normal, .userDefined, .unused:
                merge.insertIfAbsent(b, Int32(i))
                if types[i] == .userDefined && !b.isEmpty { user.append(b) }
            case .byte:
                if let v = SentencePieceModel.byteValue(p) { bytes[Int(v)] = Int32(i) }
                else { throw TokenizerError.invalid(source: source, detail: "piece #\(i) '\(p)' has type BYTE but is not <0xNN>") }
            case .unknown, .control: break
            }
        }
        for (i, p) in pieces.enumerated() where types[i] == .byte || types[i] == .unknown || types[i] == .control {
            every.insertIfAbsent(Array(p.utf8), Int32(i))
        }
        for (i, p) in pieces.enumerated() { every.insertIfAbsent(Array(p.utf8), Int32(i)) }
        if byteFallback, let missing = bytes.firstIndex(of: -1) {
            throw TokenizerError.invalid(source: source, detail: "byte_fallback is set but there is no <0x\(String(format: "%02X", missing))> piece")
        }
        var multi = Set<UInt32>()
        for (i, p) in pieces.enumerated() where types[i] == .normal || types[i] == .userDefined || types[i] == .unused {
            if p.unicodeScalars.count >= 2 { for u in p.unicodeScalars { multi.insert(u.value) } }
        }
        self.scalarsInMulti = multi
        self.asciiInMulti = (0..<128).map { multi.contains(UInt32($0)) }
        self.mergeable = merge; self.all = every; self.byteIDs = bytes
        self.userDefined = user.sorted { $0.count > $1.count }
    }

    /// 0xNN for a piece "<0xNN>".
    static func byteValue(_ p: String) -> UInt8? {
        let u = Array(p.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    /// The text bytes a piece stands for ("▁" → space; control/unknown → none).
    func bytes(ofPiece id: Int, _ p: String) -> [UInt8] {
        switch types[id] {
        case .byte: return SentencePieceModel.byteValue(p).map { [$0] } ?? []
        case .control, .unknown: return []
        default: return Array(CharBPE.replacing(p, "\u{2581}", " ").utf8)
        }
    }

    /// Step 1: the normalized UTF-8 bytes.
    func normalize(_ text: String) -> [UInt8] {
        var src = Array(text.utf8)
        if removeExtraWhitespaces {
            var out: [UInt8] = []
            out.reserveCapacity(src.count)
            var pendingSpace = false
            for b in src {
                if b == 0x20 { pendingSpace = !out.isEmpty; continue }
                if pendingSpace { out.append(0x20); pendingSpace = false }
                out.append(b)
            }
            src = out
        }
        if src.isEmpty { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(src.count + src.count / 2 + 3)
        let ws: [UInt8] = escapeWhitespaces ? [0xE2, 0x96, 0x81] : [0x20]
        if addDummyPrefix { out += ws }
        for b in src { if b == 0x20 { out += ws } else { out.append(b) } }
        return out
    }

    /// Ids of `text` (no BOS/EOS).
    ///
    /// A character that occurs in no mergeable piece of two or more characters can never
    /// merge, so the stretches between such characters (e.g. newlines) merge independently:
    /// they are encoded one by one (equal stretches once per call), which gives the same
    /// symbols as one merge loop over the whole text.
    func encode(_ text: String) -> [Int32] {
        let t = normalize(text)
        let n0 = t.count
        if n0 == 0 { return [] }
        return t.withUnsafeBufferPointer { tb -> [Int32] in
            var symStart: [Int] = [], symLen: [Int] = []
            symStart.reserveCapacity(n0 / 2); symLen.reserveCapacity(n0 / 2)
            func addChunk(_ a: Int, _ b: Int, cache: inout [[UInt8]: [Int]]) {
                guard b > a else { return }
                let key = Array(tb[a..<b])
                let lens: [Int]
                if let c = cache[key] { lens = c } else { lens = mergeChunk(tb, a, b); cache[key] = lens }
                var p = a
                for l in lens { symStart.append(p); symLen.append(l); p += l }
            }
            var cache: [[UInt8]: [Int]] = [:]
            if userDefined.isEmpty {
                var i = 0, chunk = 0
                while i < n0 {
                    let b0 = tb[i]
                    let l = min(b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4, n0 - i)
                    var isolated: Bool
                    if b0 < 0x80 {
                        isolated = !asciiInMulti[Int(b0)]
                    } else {
                        var v = UInt32(b0 & (l == 2 ? 0x1F : l == 3 ? 0x0F : 0x07))
                        for k in 1..<l { v = v << 6 | UInt32(tb[i + k] & 0x3F) }
                        isolated = !scalarsInMulti.contains(v)
                    }
                    if isolated {
                        addChunk(chunk, i, cache: &cache)
                        symStart.append(i); symLen.append(l)
                        chunk = i + l
                    }
                    i += l
                }
                addChunk(chunk, n0, cache: &cache)
            } else {
                symStart = []; symLen = []
                var p = 0
                for l in mergeChunk(tb, 0, n0) { symStart.append(p); symLen.append(l); p += l }
            }
            // Step 4: ids, byte fallback, fused unknowns.
            var out: [Int32] = []
            out.reserveCapacity(symStart.count)
            var prevUnk = false
            for k in symStart.indices {
                if let id = all.find(tb, symStart[k], symLen[k]), types[Int(id)] != .unused {
                    out.append(id); prevUnk = false
                } else if byteFallback {
                    for b in 0..<symLen[k] { out.append(byteIDs[Int(tb[symStart[k] + b])]) }
                    prevUnk = false
                } else {
                    if !prevUnk { out.append(unkID) }
                    prevUnk = true
                }
            }
            return out
        }
    }

    /// Steps 2-3 on bytes `a..<b` of the normalized text: the byte lengths of the final symbols.
    private func mergeChunk(_ tb: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int) -> [Int] {
        // Step 2: characters (user-defined pieces whole).
        var start: [Int] = [], len: [Int] = []
        start.reserveCapacity(b - a); len.reserveCapacity(b - a)
        var i = a
        while i < b {
            var l = 0
            if !userDefined.isEmpty {
                for u in userDefined where i + u.count <= b {
                    var eq = true
                    for k in 0..<u.count where tb[i + k] != u[k] { eq = false; break }
                    if eq { l = u.count; break }
                }
            }
            if l == 0 {
                let c = tb[i]
                l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4
                l = min(l, b - i)
            }
            start.append(i); len.append(l); i += l
        }
        let n = start.count
        if n < 2 { return len }
        var next = [Int](1...n), prev = [Int](-1..<(n - 1))
        var heap = MinHeap()
        // pairID[l]: the piece that merging l with its current right neighbour makes (-1: none);
        // every change of l's neighbourhood re-pushes l, so a heap entry is current exactly
        // when its score is that piece's score.
        var pairID = [Int32](repeating: -1, count: n)
        // Heap key: (ordered -score) << 32 | left, so the highest score, then leftmost, pops first.
        @inline(__always) func push(_ l: Int, _ r: Int) {
            guard l >= 0 else { return }
            guard r < n, let id = mergeable.find(tb, start[l], len[l] + len[r]) else { pairID[l] = -1; return }
            pairID[l] = id
            heap.push(UInt64(SentencePieceModel.ordered(-scores[Int(id)])) << 32 | UInt64(l))
        }
        for k in 0..<(n - 1) { push(k, k + 1) }
        while let top = heap.pop() {
            let l = Int(top & 0xFFFF_FFFF)
            guard len[l] > 0 else { continue }
            let r = next[l], id = pairID[l]
            guard r < n, id >= 0,
                  UInt32(truncatingIfNeeded: top >> 32) == SentencePieceModel.ordered(-scores[Int(id)]) else { continue }
            len[l] += len[r]; len[r] = 0
            let k = next[r]
            next[l] = k
            if k < n { prev[k] = l }
            push(prev[l], l)
            push(l, k)
        }
        var out: [Int] = []
        var k = 0
        while k < n { out.append(len[k]); k = next[k] }
        return out
    }

    /// Maps a float to a UInt32 that sorts the same way.
    @inline(__always)
    static func ordered(_ f: Float) -> UInt32 {
        let b = f.bitPattern
        return b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000
    }
}

/// Byte strings → id, keyed by a 64-bit FNV-1a hash with the bytes checked on lookup
/// (one dictionary probe per lookup; strings whose hash collides with an earlier one go to
/// an exact overflow table).
struct ByteTable: Sendable {
    private var byHash: [UInt64: Int32] = [:]
    /// Bytes of each stored id (for the check), by id.
    private var bytesOf: [[UInt8]] = []
    private var overflow: [[UInt8]: Int32] = [:]

    @inline(__always)
    static func hash(_ p: UnsafeBufferPointer<UInt8>, _ a: Int, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in a..<(a + n) { h = (h ^ UInt64(p[i])) &* 0x100_0000_01b3 }
        return h
    }

    mutating func insertIfAbsent(_ b: [UInt8], _ id: Int32) {
        let h = b.withUnsafeBufferPointer { ByteTable.hash($0, 0, b.count) }
        if let old = byHash[h] {
            if bytesOf[Int(old)] != b && overflow[b] == nil { overflow[b] = id }
            return
        }
        byHash[h] = id
        if bytesOf.count <= Int(id) { bytesOf += Array(repeating: [], count: Int(id) + 1 - bytesOf.count) }
        bytesOf[Int(id)] = b
    }

    func find(_ p: UnsafeBufferPointer<UInt8>, _ a: Int, _ n: Int) -> Int32? {
        let h = ByteTable.hash(p, a, n)
        if let id = byHash[h] {
            let k = bytesOf[Int(id)]
            if k.count == n {
                var eq = true
                for i in 0..<n where k[i] != p[a + i] { eq = false; break }
                if eq { return id }
            }
        }
        if overflow.isEmpty { return nil }
        return overflow[Array(p[a..<(a + n)])]
    }
}

// MARK: - tokenizer.model (ModelProto)

/// A minimal protobuf wire-format reader with typed errors.
struct ProtoReader {
    let data: [UInt8]
    var pos: Int
    let end: Int
    let source: String
    let what: String

    func fail(_ d: String) -> TokenizerError {
        .invalid(source: source, detail: "\(what) at byte \(pos): \(d); not a SentencePiece model file")
    }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard pos < end else { throw fail("truncated varint") }
            let b = data[pos]; pos += 1
            if shift >= 64 { throw fail("varint longer than 10 bytes") }
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }

    /// The next field: (number, wire type), or nil at the end.
    mutating func field() throws -> (Int, Int)? {
        if pos >= end { return nil }
        let k = try varint()
        guard k >> 3 > 0, k >> 3 < 1 << 29 else { throw fail("bad field number") }
        return (Int(k >> 3), Int(k & 7))
    }

    /// A length-delimited payload as a sub-reader.
    mutating func sub(_ what: String) throws -> ProtoReader {
        let n = try varint()
        guard n <= UInt64(end - pos) else { throw fail("length \(n) runs past the end") }
        let r = ProtoReader(data: data, pos: pos, end: pos + Int(n), source: source, what: what)
        pos += Int(n)
        return r
    }

    mutating func string() throws -> String {
        let s = try sub(what)
        guard let str = String(validating: data[s.pos..<s.end], as: UTF8.self) else { throw fail("string is not UTF-8") }
        return str
    }

    mutating func fixed32() throws -> UInt32 {
        guard end - pos >= 4 else { throw fail("truncated fixed32") }
        let v = UInt32(data[pos]) | UInt32(data[pos + 1]) << 8 | UInt32(data[pos + 2]) << 16 | UInt32(data[pos + 3]) << 24
        pos += 4
        return v
    }

    mutating func skip(_ wire: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1: guard end - pos >= 8 else { throw fail("truncated fixed64") }; pos += 8
        case 2: _ = try sub(what)
        case 5: _ = try fixed32()
        default: throw fail("unsupported wire type \(wire)")
        }
    }
}

extension SentencePieceModel {
    /// Reads a SentencePiece `ModelProto`. Only BPE models (trainer_spec.model_type 2) with
    /// the identity normalizer are accepted; anything else is a `TokenizerError`.
    init(modelFile url: URL) throws {
        let src = url.path
        let d: [UInt8]
        do { d = [UInt8](try Data(contentsOf: url)) } catch {
            throw TokenizerError.invalid(source: src, detail: "cannot read: \(error.localizedDescription)")
        }
        var r = ProtoReader(data: d, pos: 0, end: d.count, source: src, what: "ModelProto")
        var pieces: [String] = [], scores: [Float] = [], types: [PieceType] = []
        var modelType: UInt64 = 1   // UNIGRAM by default
        var byteFallback = false
        var unk: Int64 = 0, bos: Int64 = 1, eos: Int64 = 2
        var treatAsSuffix = false
        var addDummy = true, removeExtra = true, escape = true
        var charsmapBytes = 0
        var normName = ""
        while let (f, w) = try r.field() {
            switch (f, w) {
            case (1, 2):
                var p = try r.sub("pieces[\(pieces.count)]")
                var piece = "", score: Float = 0, type: UInt64 = 1
                while let (g, w2) = try p.field() {
                    switch (g, w2) {
                    case (1, 2): piece = try p.string()
                    case (2, 5): score = Float(bitPattern: try p.fixed32())
                    case (3, 0): type = try p.varint()
                    default: try p.skip(w2)
                    }
                }
                guard let t = PieceType(rawValue: UInt8(truncatingIfNeeded: type)), type <= 6 else {
                    throw TokenizerError.invalid(source: src, detail: "pieces[\(pieces.count)] '\(piece)' has unknown type \(type)")
                }
                pieces.append(piece); scores.append(score); types.append(t)
            case (2, 2):
                var t = try r.sub("trainer_spec")
                while let (g, w2) = try t.field() {
                    switch (g, w2) {
                    case (3, 0): modelType = try t.varint()
                    case (24, 0): treatAsSuffix = try t.varint() != 0
                    case (35, 0): byteFallback = try t.varint() != 0
                    case (40, 0): unk = Int64(Int32(truncatingIfNeeded: try t.varint()))
                    case (41, 0): bos = Int64(Int32(truncatingIfNeeded: try t.varint()))
                    case (42, 0): eos = Int64(Int32(truncatingIfNeeded: try t.varint()))
                    default: try t.skip(w2)
                    }
                }
            case (3, 2):
                var nrm = try r.sub("normalizer_spec")
                while let (g, w2) = try nrm.field() {
                    switch (g, w2) {
                    case (1, 2): normName = try nrm.string()
                    case (2, 2): let s = try nrm.sub("precompiled_charsmap"); charsmapBytes = s.end - s.pos
                    case (3, 0): addDummy = try nrm.varint() != 0
                    case (4, 0): removeExtra = try nrm.varint() != 0
                    case (5, 0): escape = try nrm.varint() != 0
                    default: try nrm.skip(w2)
                    }
                }
            default: try r.skip(w)
            }
        }
        guard !pieces.isEmpty else {
            throw TokenizerError.invalid(source: src, detail: "no pieces; not a SentencePiece model file")
        }
        guard modelType == 2 else {
            let names: [UInt64: String] = [1: "UNIGRAM", 3: "WORD", 4: "CHAR"]
            throw TokenizerError.invalid(source: src, detail: "trainer_spec.model_type is \(names[modelType] ?? String(modelType)); mxq reads only BPE SentencePiece models")
        }
        guard charsmapBytes == 0 else {
            throw TokenizerError.invalid(source: src, detail: "normalizer_spec '\(normName)' has a precompiled charsmap (\(charsmapBytes) bytes); only the identity normalizer is supported")
        }
        guard !treatAsSuffix else {
            throw TokenizerError.invalid(source: src, detail: "trainer_spec.treat_whitespace_as_suffix is not supported")
        }
        func id(_ v: Int64) -> Int32? { v >= 0 && v < Int64(pieces.count) ? Int32(v) : nil }
        try self.init(pieces: pieces, scores: scores, types: types, addDummyPrefix: addDummy,
                      removeExtraWhitespaces: removeExtra, escapeWhitespaces: escape, byteFallback: byteFallback,
                      unkID: Int32(clamping: unk), bosID: id(bos), eosID: id(eos), name: "sentencepiece", source: src)
    }
}

extension BPETokenizer {
    /// Reads a SentencePiece `tokenizer.model` (BPE). BOS/EOS are recorded, never added.
    public convenience init(sentencePieceModel url: URL) throws {
        let sp = try SentencePieceModel(modelFile: url)
        try self.init(sentencePiece: sp, source: url.path)
    }

    convenience init(sentencePiece sp: SentencePieceModel, source: String) throws {
        try self.init(tokens: sp.pieces, mergePairs: [], preTokenizer: .gpt2, bosTokenID: sp.bosID, eosTokenID: sp.eosID,
                      ignoreMerges: false, source: source, pipeline: nil, addedTokens: [], sentencePiece: sp)
    }
}

// MARK: - GGUF `llama` vocabularies

extension SentencePieceModel {
    /// A SentencePiece vocabulary as llama.cpp's converter stores it in GGUF metadata
    /// (`tokenizer.ggml.model == "llama"`): `tokens` (pieces, id = index), `scores`
    /// (float32), `token_type` (SentencePiece piece types 1...6), `add_space_prefix`
    /// (the normalizer's add_dummy_prefix; default true), `unknown_token_id` (default 0),
    /// `bos_token_id` / `eos_token_id`. Spaces are escaped to "▁" and runs of spaces are
    /// kept (Llama-2/Mistral models have remove_extra_whitespaces off, and GGUF does not
    /// record it); byte fallback applies when all 256 `<0xNN>` pieces are present.
    init(ggufMetadata md: [String: GGUFValue], source src: String) throws {
        guard let tokens = md["tokenizer.ggml.tokens"]?.stringArray, !tokens.isEmpty else {
            throw TokenizerError.missingField(field: "tokenizer.ggml.tokens", expected: "a non-empty array of strings", source: src)
        }
        guard let sc = md["tokenizer.ggml.scores"]?.doubleArray, sc.count == tokens.count else {
            throw TokenizerError.missingField(field: "tokenizer.ggml.scores",
                                              expected: "an array of \(tokens.count) numbers (one per token)", source: src)
        }
        var types: [PieceType] = []
        if let tt = md["tokenizer.ggml.token_type"] {
            guard let a = tt.intArray, a.count == tokens.count else {
                throw TokenizerError.missingField(field: "tokenizer.ggml.token_type",
                                                  expected: "an array of \(tokens.count) integers (one per token)", source: src)
            }
            for (i, t) in a.enumerated() {
                guard t >= 1, t <= 6, let p = PieceType(rawValue: UInt8(t)) else {
                    throw TokenizerError.invalid(source: src, detail: "tokenizer.ggml.token_type[\(i)] is \(t) (expected 1...6)")
                }
                types.append(p)
            }
        } else {
            types = tokens.map { SentencePieceModel.byteValue($0) != nil ? .byte : .normal }
        }
        func id(_ key: String, default d: Int?) throws -> Int32? {
            guard let v = md[key] else { return d.map(Int32.init) }
            guard let i = v.int, i >= 0, i < tokens.count else {
                throw TokenizerError.missingField(field: key, expected: "a token id in 0..<\(tokens.count)", source: src)
            }
            return Int32(i)
        }
        var addPrefix = true
        if let v = md["tokenizer.ggml.add_space_prefix"] {
            guard let b = v.bool else {
                throw TokenizerError.missingField(field: "tokenizer.ggml.add_space_prefix", expected: "a bool", source: src)
            }
            addPrefix = b
        }
        let byteCount = types.filter { $0 == .byte }.count
        try self.init(pieces: tokens, scores: sc.map { Float($0) }, types: types, addDummyPrefix: addPrefix,
                      removeExtraWhitespaces: false, escapeWhitespaces: true, byteFallback: byteCount >= 256,
                      unkID: try id("tokenizer.ggml.unknown_token_id", default: 0)!,
                      bosID: try id("tokenizer.ggml.bos_token_id", default: nil),
                      eosID: try id("tokenizer.ggml.eos_token_id", default: nil), name: "sentencepiece (gguf llama)", source: src)
    }
}
