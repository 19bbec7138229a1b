// Pre-tokenizers described by a tokenizer.json `pre_tokenizer` that are not one of the
// hand-written `PreTokenizer` scanners: a `Sequence` of `Split` (regex or string),
// `Digits` and `ByteLevel` steps, applied in order, each to every piece the previous
// step produced (as Hugging Face `tokenizers` does: a later step never sees across a
// piece boundary). Also the added-token matcher that cuts text at added/special tokens.

import Foundation
import Support

/// A sequence of splitting steps over scalar ranges of one text.
final class SplitPipeline: Sendable {
    /// How a `Split` step treats the matches (HF `SplitDelimiterBehavior`).
    enum Behavior: String, Sendable {
        case isolated = "Isolated", removed = "Removed", mergedWithPrevious = "MergedWithPrevious",
             mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
    }
    struct Step: Sendable {
        let regex: Regex
        let behavior: Behavior
        let invert: Bool
    }
    let steps: [Step]
    /// Short description for messages, e.g. `Split(regex)+ByteLevel`.
    let name: String
    /// The file's normalizer is `NFC` (Qwen2): texts are composed before splitting.
    let nfc: Bool

    /// The GPT-2 pattern that `ByteLevel(use_regex: true)` applies.
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// The `Split` pattern of Llama-3's tokenizer.json (digit groups of up to three).
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// The `Split` pattern of Qwen2's tokenizer.json (every digit alone).
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    init(steps: [Step], name: String, nfc: Bool = false) {
        self.steps = steps
        self.name = nfc ? "NFC+" + name : name
        self.nfc = nfc
    }

    /// The text the steps see (NFC-composed when the file asks for it).
    func normalize(_ text: String) -> String {
        nfc ? text.precomposedStringWithCanonicalMapping : text
    }

    /// Pieces of the scalars `s` (values) / `m` (property masks), as ranges in order. Throws
    /// `TokenizerError.regexStepBudget` when a step's regex exceeds its step budget.
    func split(s: UnsafeBufferPointer<UInt32>, m: UnsafeBufferPointer<UInt32>, emit: (Int, Int) -> Void) throws {
        var pieces: [(Int, Int)] = s.isEmpty ? [] : [(0, s.count)]
        var stack: [Int] = []
        for step in steps {
            var next: [(Int, Int)] = []
            next.reserveCapacity(pieces.count * 2)
            for (lo, hi) in pieces {
                // Matches (or, inverted, the gaps) are the delimiters.
                var spans: [(Int, Int, Bool)] = []   // (a, b, isDelimiter), tiling lo..<hi
                var p = lo
                try step.regex.forEachMatch(lo: lo, hi: hi, s: s, m: m, stack: &stack) { a, b in
                    if a > p { spans.append((p, a, step.invert)) }
                    spans.append((a, b, !step.invert))
                    p = b
                }
                if p < hi { spans.append((p, hi, step.invert)) }
                switch step.behavior {
                case .isolated:
                    for (a, b, _) in spans { next.append((a, b)) }
                case .removed:
                    for (a, b, d) in spans where !d { next.append((a, b)) }
                case .mergedWithPrevious:
                    // a delimiter joins the piece before it unless that piece is a delimiter too
                    var acc: [(Int, Int)] = []
                    var prevMatch = false
                    for (a, b, d) in spans {
                        if d && !prevMatch && !acc.isEmpty { acc[acc.count - 1].1 = b } else { acc.append((a, b)) }
                        prevMatch = d
                    }
                    next += acc
                case .mergedWithNext:
                    // a delimiter joins the piece after it unless that piece is a delimiter too
                    var acc: [(Int, Int)] = []
                    var prevMatch = false
                    for (a, b, d) in spans.reversed() {
                        if d && !prevMatch && !acc.isEmpty { acc[acc.count - 1].0 = a } else { acc.append((a, b)) }
                        prevMatch = d
                    }
                    next += acc.reversed()
                case .contiguous:
                    var cur: (Int, Int, Bool)? = nil
                    for sp in spans {
                        if let c = cur, c.2 && sp.2 { cur = (c.0, sp.1, true) } else {
                            if let c = cur { next.append((c.0, c.1)) }
                            cur = sp
                        }
                    }
                    if let c = cur { next.append((c.0, c.1)) }
                }
            }
            pieces = next
        }
        for (a, b) in pieces where b > a { emit(a, b) }
    }
}

/// An added token as tokenizer.json's `added_tokens` describes it.
struct AddedToken: Sendable {
    let content: [UInt8]
    let id: Int32
    let lstrip: Bool
    let rstrip: Bool
    let singleWord: Bool
}

/// Finds added tokens in raw text: leftmost match, longest among those starting there
/// (HF's `LeftmostLongest` Aho-Corasick), with `lstrip`/`rstrip` taking the adjacent
/// whitespace into the token and `single_word` requiring no word character around it.
struct AddedTokenMatcher: Sendable {
    /// Candidates by first byte, longest first.
    let byFirst: [[AddedToken]]
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        var t = [[AddedToken]](repeating: [], count: 256)
        for a in tokens where !a.content.isEmpty { t[Int(a.content[0])].append(a) }
        for i in 0..<256 { t[i].sort { $0.content.count > $1.content.count } }
        byFirst = t
        isEmpty = tokens.allSatisfy { $0.content.isEmpty }
    }

    /// Splits `bytes` into text segments (`.text(range)`) and added tokens (`.token(id)`).
    enum Segment { case text(Range<Int>), token(Int32) }

    func segments(_ bytes: [UInt8]) -> [Segment] {
        if isEmpty { return [.text(0..<bytes.count)] }
        var out: [Segment] = []
        var textStart = 0
        var i = 0
        let n = bytes.count
        func scalarBefore(_ k: Int) -> Unicode.Scalar? {
            guard k > 0 else { return nil }
            var j = k - 1
            while j > 0 && bytes[j] & 0xC0 == 0x80 { j -= 1 }
            var it = bytes[j..<k].makeIterator()
            var d = UTF8()
            if case .scalarValue(let u) = d.decode(&it) { return u }
            return nil
        }
        func scalarAt(_ k: Int) -> (Unicode.Scalar, Int)? {
            guard k < n else { return nil }
            var it = bytes[k...].makeIterator()
            var d = UTF8()
            if case .scalarValue(let u) = d.decode(&it) { return (u, UTF8.width(u)) }
            return nil
        }
        func isWord(_ u: Unicode.Scalar?) -> Bool {
            guard let u else { return false }
            return ScalarProps.mask(u) & ScalarProps.word != 0
        }
        while i < n {
            var found: AddedToken? = nil
            for cand in byFirst[Int(bytes[i])] where i + cand.content.count <= n {
                var eq = true
                for (k, b) in cand.content.enumerated() where bytes[i + k] != b { eq = false; break }
                if !eq { continue }
                if cand.singleWord && (isWord(scalarBefore(i)) || isWord(scalarAt(i + cand.content.count)?.0)) { continue }
                found = cand; break
            }
            guard let tok = found else { i += 1; continue }
            var a = i, b = i + tok.content.count
            if tok.lstrip {
                while a > textStart, let u = scalarBefore(a), u.properties.isWhitespace { a -= UTF8.width(u) }
            }
            if tok.rstrip {
                while let (u, w) = scalarAt(b), u.properties.isWhitespace { b += w }
            }
            if a > textStart { out.append(.text(textStart..<a)) }
            out.append(.token(tok.id))
            textStart = b; i = b
        }
        if textStart < n { out.append(.text(textStart..<n)) }
        return out
    }
}
