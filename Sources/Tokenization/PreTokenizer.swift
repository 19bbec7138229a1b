// Pre-tokenization: cutting text into the pieces that BPE then encodes one by one.
//
// Both supported pre-tokenizers are hand-written scanners over Unicode scalars
// (no regex engine), equivalent to the patterns below with leftmost-first
// alternation semantics.
//
// `gpt2` — the GPT-2 / Hugging Face `ByteLevel(use_regex: true)` pattern
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// `smollm` — first every \p{N} scalar is isolated as a piece of its own
//     (HF `Digits(individual_digits: true)`; llama.cpp's first regex `\p{N}` for
//     LLAMA_VOCAB_PRE_TYPE_SMOLLM), then the `gpt2` pattern runs on each stretch
//     between digits separately (a lookahead never sees past a digit).
//
// Character classes: \p{L} = general category L* (Lu Ll Lt Lm Lo); \p{N} = N*
// (Nd Nl No); \s = the Unicode White_Space property (as Oniguruma, used by HF
// tokenizers, defines it). The space in " ?" is U+0020 only. The contractions
// are case-sensitive ASCII.

import Support

/// A supported pre-tokenizer. Names follow GGUF's `tokenizer.ggml.pre`.
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// GPT-2 byte-level pattern, no digit split.
    case gpt2
    /// Every digit isolated, then the GPT-2 pattern (SmolLM, StarCoder).
    case smollm

    /// Resolves a `tokenizer.ggml.pre` name. Besides the canonical names this accepts
    /// the GGUF names that llama.cpp maps to the same two patterns and that were checked
    /// against llama.cpp's `llama-vocab.cpp`: `gpt-2` (GPT2 group) and `starcoder`
    /// (same group as SMOLLM). Anything else throws `TokenizerError.unknownPreTokenizer`;
    /// there is no silent fallback.
    public init(name: String, source: String) throws {
        switch name {
        case "gpt2", "gpt-2": self = .gpt2
        case "smollm", "starcoder": self = .smollm
        default: throw TokenizerError.unknownPreTokenizer(name: name, source: source)
        }
    }
}

/// Character class of one scalar, as the scanners need it.
enum CharClass {
    static let other: UInt8 = 0
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    /// U+0020 (the only scalar the pattern's " ?" accepts).
    static let space: UInt8 = 3
    /// Any other White_Space scalar.
    static let whitespace: UInt8 = 4

    static let ascii: [UInt8] = (0..<128).map { c -> UInt8 in
        switch c {
        case 0x41...0x5A, 0x61...0x7A: return letter
        case 0x30...0x39: return number
        case 0x20: return space
        case 0x09...0x0D: return whitespace
        default: return other
        }
    }

    @inline(__always)
    static func of(_ u: Unicode.Scalar) -> UInt8 {
        if u.value < 128 { return ascii[Int(u.value)] }
        let p = u.properties
        if p.isWhitespace { return whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        default: return other
        }
    }
}

/// A text decoded once into per-scalar classes and UTF-8 byte offsets.
struct ScannedText {
    /// UTF-8 bytes of the text.
    var bytes: [UInt8]
    /// Class of each scalar, [n].
    var cls: [UInt8]
    /// Byte offset of each scalar, [n + 1] (the last entry is `bytes.count`).
    var offsets: [Int]

    init(_ text: String) {
        bytes = Array(text.utf8)
        var cls: [UInt8] = []
        var offsets: [Int] = []
        cls.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var pos = 0
        for u in text.unicodeScalars {
            cls.append(CharClass.of(u))
            offsets.append(pos)
            pos += UTF8.width(u)
        }
        offsets.append(pos)
        self.cls = cls
        self.offsets = offsets
    }

    var scalarCount: Int { cls.count }
}

extension PreTokenizer {
    /// Calls `emit(lo, hi)` for each piece, as scalar index ranges, in order; the
    /// pieces tile `0..<text.scalarCount` exactly.
    func split(_ text: ScannedText, emit: (Int, Int) -> Void) {
        text.cls.withUnsafeBufferPointer { cls in
            text.bytes.withUnsafeBufferPointer { bytes in
                text.offsets.withUnsafeBufferPointer { off in
                    let n = cls.count
                    switch self {
                    case .gpt2:
                        splitGPT2(cls: cls, bytes: bytes, off: off, start: 0, end: n, emit: emit)
                    case .smollm:
                        var i = 0
                        while i < n {
                            if cls[i] == CharClass.number { emit(i, i + 1); i += 1; continue }
                            var j = i + 1
                            while j < n && cls[j] != CharClass.number { j += 1 }
                            splitGPT2(cls: cls, bytes: bytes, off: off, start: i, end: j, emit: emit)
                            i = j
                        }
                    }
                }
            }
        }
    }
}

/// The GPT-2 pattern on scalars `start..<end` (a lookahead never looks past `end`).
@inline(__always)
private func splitGPT2(cls: UnsafeBufferPointer<UInt8>, bytes: UnsafeBufferPointer<UInt8>,
                       off: UnsafeBufferPointer<Int>, start: Int, end: Int, emit: (Int, Int) -> Void) {
    // First byte of scalar k; ASCII scalars are exactly the ones whose first byte is < 0x80.
    @inline(__always) func lead(_ k: Int) -> UInt8 { bytes[off[k]] }
    @inline(__always) func isSpaceClass(_ c: UInt8) -> Bool { c == CharClass.space || c == CharClass.whitespace }
    var i = start
    while i < end {
        let c = cls[i]
        // 's 't 're 've 'm 'll 'd
        if c == CharClass.other && lead(i) == 0x27 && i + 1 < end {
            let b1 = lead(i + 1)
            if b1 == 0x73 || b1 == 0x74 || b1 == 0x6D || b1 == 0x64 {           // s t m d
                emit(i, i + 2); i += 2; continue
            }
            if i + 2 < end {
                let b2 = lead(i + 2)
                if (b1 == 0x72 && b2 == 0x65) || (b1 == 0x76 && b2 == 0x65) || (b1 == 0x6C && b2 == 0x6C) { // re ve ll
                    emit(i, i + 3); i += 3; continue
                }
            }
        }
        // " ?X+" for X in {\p{L}, \p{N}, [^\s\p{L}\p{N}]}: an optional U+0020, then a run of one class.
        var j = i
        var k = c
        if c == CharClass.space && i + 1 < end && !isSpaceClass(cls[i + 1]) {
            j = i + 1
            k = cls[j]
        }
        if !isSpaceClass(k) {
            j += 1
            while j < end && cls[j] == k { j += 1 }
            emit(i, j); i = j; continue
        }
        // Whitespace run i..<j. "\s+(?!\S)": the whole run if it reaches the end of the
        // stretch, else all but its last scalar (which then starts the next piece);
        // a single whitespace scalar before a non-space falls to "\s+".
        j = i + 1
        while j < end && isSpaceClass(cls[j]) { j += 1 }
        if j == end || j - i == 1 {
            emit(i, j); i = j
        } else {
            emit(i, j - 1); i = j - 1
        }
    }
}
