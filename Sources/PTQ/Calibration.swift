import Support
import Foundation

/// A seeded, deterministic calibration set: `samples` sequences of `length` tokens cut from
/// a token stream (the tokenized calibration text) at start positions drawn uniformly with
/// SplitMix64(seed), as GPTQ's `get_ptb`/`get_c4` do (`i = randint(0, n - length - 1)`).
/// Never build one from an evaluation split.
///
/// With a BOS id each sequence is [BOS] + `length − 1` consecutive text tokens (the same
/// layout as a BOS evaluation window, `evaluatePerplexity(bos:)`), so calibration sees the
/// attention-sink position the evaluation has; `starts` then index the text tokens.
public struct CalibrationSet: Sendable {
    public let sequences: [[Int32]]
    public let length: Int
    public let seed: UInt64
    /// Start of each sequence in the token stream it was cut from (empty for explicit sequences).
    public let starts: [Int]
    /// Identifies the set for caches: hash of the source tokens, sample count, length and seed.
    public let identity: String

    /// Draws `samples` windows of `length` tokens from `tokens` (with `bos`: [bos] + `length − 1`
    /// text tokens each). Throws if the text is too short.
    public init(tokens: [Int32], samples: Int, length: Int, seed: UInt64, sourceName: String = "calibration text",
                bos: Int32? = nil) throws {
        guard samples > 0 else { throw UsageError("--calib-samples must be positive, got \(samples)") }
        guard length > 1 else { throw UsageError("--calib-len must be at least 2, got \(length)") }
        let textLength = bos == nil ? length : length - 1
        guard tokens.count > textLength else {
            throw UsageError("\(sourceName): \(tokens.count) tokens, need more than \(textLength) (--calib-len \(length)\(bos == nil ? "" : " with BOS"))")
        }
        var g = SplitMix64(seed: seed)
        let span = UInt64(tokens.count - textLength)   // start in 0..<span (GPTQ: randint(0, n - len - 1))
        var seqs: [[Int32]] = []
        var st: [Int] = []
        for _ in 0..<samples {
            let start = Int(g.next() % span)
            let text = tokens[start..<(start + textLength)]
            seqs.append(bos.map { [$0] + Array(text) } ?? Array(text))
            st.append(start)
        }
        sequences = seqs
        starts = st
        self.length = length
        self.seed = seed
        let h = tokens.withUnsafeBytes { fnv1a64($0) }
        identity = "\(String(h, radix: 16))-n\(samples)-l\(length)-s\(seed)" + (bos.map { "-bos\($0)" } ?? "")
    }

    /// A set made of explicit sequences (tests), all of the same length.
    public init(sequences: [[Int32]], identity: String) {
        precondition(!sequences.isEmpty && sequences.allSatisfy { $0.count == sequences[0].count })
        self.sequences = sequences
        self.length = sequences[0].count
        self.seed = 0
        self.starts = []
        self.identity = identity
    }

    public var tokenCount: Int { sequences.count * length }

    /// A held-out set: `samples` windows of `length` tokens of `tokens` drawn with a stream derived
    /// from `seed` and, when `disjointFrom` is given (a set cut from the same tokens), overlapping
    /// none of its windows. Throws when the text has no room for them.
    /// With `bos` each window is [bos] + `length − 1` text tokens, as in `init(tokens:…bos:)`
    /// (`disjointFrom` must then be a BOS set too: its windows cover `length − 1` text tokens).
    public static func heldOut(tokens: [Int32], samples: Int, length: Int, seed: UInt64, disjointFrom cal: CalibrationSet?,
                               sourceName: String, bos: Int32? = nil) throws -> CalibrationSet {
        let textLength = bos == nil ? length : length - 1
        guard samples > 0, length > 1, tokens.count > textLength else {
            throw UsageError("\(sourceName): \(tokens.count) tokens, too few for a held-out sample of \(samples) × \(length) tokens")
        }
        var g = SplitMix64(seed: seed ^ 0x4845_4C44_4F55_5400)   // "HELDOUT": a stream unlike the calibration's
        let span = UInt64(tokens.count - textLength)
        let calText = (cal?.length ?? 0) - (bos == nil ? 0 : 1)
        let taken = (cal?.starts ?? []).map { ($0, $0 + calText) }
        var seqs: [[Int32]] = [], st: [Int] = []
        var tries = 0
        while seqs.count < samples {
            tries += 1
            if tries > 1000 * samples {
                throw UsageError("\(sourceName): no room for \(samples) held-out windows of \(length) tokens disjoint from the \(taken.count) calibration windows; use a longer text or fewer calibration tokens")
            }
            let s = Int(g.next() % span), e = s + textLength
            if taken.contains(where: { $0.0 < e && s < $0.1 }) { continue }
            seqs.append(bos.map { [$0] + Array(tokens[s..<e]) } ?? Array(tokens[s..<e]))
            st.append(s)
        }
        return CalibrationSet(sequences: seqs, starts: st, seed: seed,
                              identity: "heldout-\(sourceName)-n\(samples)-l\(length)-s\(seed)" + (bos.map { "-bos\($0)" } ?? ""))
    }

    init(sequences: [[Int32]], starts: [Int], seed: UInt64, identity: String) {
        self.sequences = sequences; self.length = sequences[0].count; self.seed = seed; self.starts = starts; self.identity = identity
    }
}

/// 64-bit FNV-1a hash of raw bytes (cache keys; not cryptographic).
func fnv1a64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
    var h = seed
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h
}

func fnv1a64(_ s: String) -> UInt64 {
    var u = Array(s.utf8)
    return u.withUnsafeMutableBytes { fnv1a64(UnsafeRawBufferPointer($0)) }
}
