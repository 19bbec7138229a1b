import Foundation
import Support

// MARK: - Bootstrap confidence intervals over evaluation windows
//
// Method (what the README's "Uncertainty" section states):
// - The unit of resampling is the evaluation window. Every window's entry is the mean NLL
//   (nats) over its predicted tokens; a resample draws n window indices uniformly with
//   replacement, and its mean NLL is the token-weighted mean of the drawn windows
//   (Σ tokensᵢ·nllᵢ / Σ tokensᵢ over the draws, with multiplicity). Equal-length windows
//   (every window of a sweep scores ctx − 1 tokens) weigh equally.
// - PPL of a resample = exp(its mean NLL). Paired ΔPPL = exp(mean NLL of the cell) −
//   exp(mean NLL of the reference), both over the SAME drawn window indices.
// - Random stream: one `SplitMix64(seed: Bootstrap.seed)` per interval; resample b draws its
//   n indices in order, index = high 64 bits of (next() × n) (Lemire's multiply-shift). The
//   same seed and window count give the same draws for every cell, so the intervals of all
//   cells of a dataset come from the same resamples. Single-threaded: results do not depend
//   on `--threads`.
// - Interval: the 2.5 % and 97.5 % quantiles of the B ≥ 2000 resampled statistics, with
//   linear interpolation between order statistics (h = (B − 1)·q; numpy's default).
// - Seeds (two-level): a resample draws its n window indices, then S seed indices with
//   replacement; the statistic is the mean over the drawn seeds, each evaluated on the drawn
//   windows. The windows are drawn once per resample, not once per seed, because every seed is
//   evaluated on the same windows: their sampling noise is shared by all seeds, and drawing it
//   independently per seed would average it away and understate the interval. With S = 1 (or
//   seeds that agree window for window) this is exactly the one-level bootstrap: window
//   indices come from the stream above, seed indices from a second stream,
//   `SplitMix64(seed: Bootstrap.seed).fork(1)`.

/// A closed interval [lo, hi].
public struct Interval: Sendable, Equatable, Codable {
    public var lo: Double
    public var hi: Double
    public init(_ lo: Double, _ hi: Double) { self.lo = lo; self.hi = hi }
    public func contains(_ x: Double) -> Bool { lo <= x && x <= hi }
}

/// Outcome of a paired comparison: is the difference real?
public enum Verdict: String, Sendable, Equatable {
    case better, worse
    case indistinguishable = "not distinguishable"

    /// better when the whole CI of (cell − reference) ΔPPL is below 0, worse when it is
    /// above 0, otherwise not distinguishable (a CI touching 0 is not distinguishable).
    public init(deltaCI ci: Interval) {
        if ci.hi < 0 { self = .better } else if ci.lo > 0 { self = .worse } else { self = .indistinguishable }
    }
}

public enum Bootstrap {
    /// The fixed seed of every interval in summary.csv, reports and `mxq compare` ("mxq-boot" in ASCII).
    public static let seed: UInt64 = 0x6D78_712D_626F_6F74
    /// Resamples per interval.
    public static let resamples = 2000
    /// Two-sided confidence level.
    public static let level = 0.95

    /// Token-weighted mean of `nll` over `indices` (with multiplicity); `tokens` nil = equal weights.
    /// Contract: every index < nll.count, tokens (when given) has nll.count positive entries.
    @inlinable
    public static func weightedMean(_ nll: [Double], tokens: [Double]?, indices: [Int]) -> Double {
        var s = 0.0, w = 0.0
        if let t = tokens {
            for i in indices { s += t[i] * nll[i]; w += t[i] }
        } else {
            for i in indices { s += nll[i] }
            w = Double(indices.count)
        }
        return s / w
    }

    /// Uniform index in 0..<n from `g` (high word of next() × n).
    @inlinable
    static func index(_ g: inout SplitMix64, below n: Int) -> Int {
        Int(truncatingIfNeeded: g.next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// Quantile `q` of sorted values with linear interpolation (h = (B − 1)·q).
    public static func quantile(sorted v: [Double], _ q: Double) -> Double {
        precondition(!v.isEmpty)
        let h = Double(v.count - 1) * q
        let i = Int(h.rounded(.down))
        if i + 1 >= v.count { return v[v.count - 1] }
        let f = h - Double(i)
        return f == 0 ? v[i] : v[i] + f * (v[i + 1] - v[i])
    }

    /// Percentile interval at `level` of sorted resampled statistics.
    public static func percentile(sorted v: [Double], level: Double = Bootstrap.level) -> Interval {
        let a = (1 - level) / 2
        return Interval(quantile(sorted: v, a), quantile(sorted: v, 1 - a))
    }

    /// The resampled statistics (sorted ascending) of a two-level bootstrap over `seeds` units
    /// × `windows` windows: per resample, `statistic(drawnSeeds, drawnWindows)` gets the S drawn
    /// seed indices and the n drawn window indices (shared by all drawn seeds) and returns one
    /// number. With seeds == 1 no seed is drawn (drawnSeeds = [0]).
    /// Contract: seeds ≥ 1, windows ≥ 1, resamples ≥ 1.
    public static func distribution(seeds: Int, windows: Int, resamples: Int = Bootstrap.resamples,
                                    seed: UInt64 = Bootstrap.seed,
                                    statistic: (_ seeds: [Int], _ windows: [Int]) -> Double) -> [Double] {
        precondition(seeds >= 1 && windows >= 1 && resamples >= 1)
        var g = SplitMix64(seed: seed)          // window draws: the same stream as the one-level bootstrap
        var gs = SplitMix64(seed: seed).fork(1) // seed draws: a separate stream
        var out = [Double](); out.reserveCapacity(resamples)
        var ws = [Int](repeating: 0, count: windows)
        var ss = [Int](repeating: 0, count: seeds)
        for _ in 0..<resamples {
            for j in 0..<windows { ws[j] = index(&g, below: windows) }
            if seeds > 1 { for k in 0..<seeds { ss[k] = index(&gs, below: seeds) } }
            out.append(statistic(ss, ws))
        }
        out.sort()
        return out
    }

    /// 95 % CI of PPL = exp(token-weighted mean NLL) from per-window NLLs.
    /// nil when there are no windows, a window's NLL is not finite, or `tokens` does not match.
    public static func pplCI(_ nll: [Double], tokens: [Double]? = nil, resamples: Int = Bootstrap.resamples,
                             seed: UInt64 = Bootstrap.seed) -> Interval? {
        seedsPPLCI([nll], tokens: tokens, resamples: resamples, seed: seed)
    }

    /// 95 % CI of paired ΔPPL = exp(mean NLL of `cell`) − exp(mean NLL of `reference`) over the
    /// same windows (same drawn indices for both). nil when the window counts differ or are 0.
    public static func pairedDeltaCI(_ cell: [Double], _ reference: [Double], tokens: [Double]? = nil,
                                     resamples: Int = Bootstrap.resamples, seed: UInt64 = Bootstrap.seed) -> Interval? {
        seedsPairedDeltaCI([cell], [reference], tokens: tokens, resamples: resamples, seed: seed)
    }

    /// 95 % CI of paired ΔNLL = mean NLL of `cell` − mean NLL of `reference` (the log of the
    /// PPL ratio) over the same windows. A constant per-window shift c gives exactly [c, c].
    public static func pairedNLLDiffCI(_ cell: [Double], _ reference: [Double], tokens: [Double]? = nil,
                                       resamples: Int = Bootstrap.resamples, seed: UInt64 = Bootstrap.seed) -> Interval? {
        guard !cell.isEmpty, cell.count == reference.count, validTokens(tokens, cell.count), allFinite([cell, reference]) else { return nil }
        let d = distribution(seeds: 1, windows: cell.count, resamples: resamples, seed: seed) { _, w in
            weightedMean(cell, tokens: tokens, indices: w) - weightedMean(reference, tokens: tokens, indices: w)
        }
        return percentile(sorted: d)
    }

    /// 95 % CI of the mean PPL over seeds (two-level: windows and seeds).
    /// `perSeed[s]` holds seed s's per-window NLLs; all must have the same window count.
    public static func seedsPPLCI(_ perSeed: [[Double]], tokens: [Double]? = nil, resamples: Int = Bootstrap.resamples,
                                  seed: UInt64 = Bootstrap.seed) -> Interval? {
        guard let n = perSeed.first?.count, n > 0, perSeed.allSatisfy({ $0.count == n }), validTokens(tokens, n), allFinite(perSeed) else { return nil }
        let d = distribution(seeds: perSeed.count, windows: n, resamples: resamples, seed: seed) { ss, w in
            ss.reduce(0.0) { $0 + Foundation.exp(weightedMean(perSeed[$1], tokens: tokens, indices: w)) } / Double(ss.count)
        }
        return percentile(sorted: d)
    }

    /// 95 % CI of the mean paired ΔPPL over seeds: `cell[s]` is paired with `reference[s]` (same
    /// drawn seed, same drawn windows). For a reference without seeds (fp32) pass it once per seed.
    public static func seedsPairedDeltaCI(_ cell: [[Double]], _ reference: [[Double]], tokens: [Double]? = nil,
                                          resamples: Int = Bootstrap.resamples, seed: UInt64 = Bootstrap.seed) -> Interval? {
        guard let n = cell.first?.count, n > 0, cell.count == reference.count,
              (cell + reference).allSatisfy({ $0.count == n }), validTokens(tokens, n), allFinite(cell + reference) else { return nil }
        let d = distribution(seeds: cell.count, windows: n, resamples: resamples, seed: seed) { ss, w in
            ss.reduce(0.0) {
                $0 + Foundation.exp(weightedMean(cell[$1], tokens: tokens, indices: w))
                    - Foundation.exp(weightedMean(reference[$1], tokens: tokens, indices: w))
            } / Double(ss.count)
        }
        return percentile(sorted: d)
    }

    /// Intervals are only computed from finite NLLs (a window with an infinite or NaN NLL gives none).
    static func allFinite(_ a: [[Double]]) -> Bool { a.allSatisfy { $0.allSatisfy(\.isFinite) } }

    static func validTokens(_ t: [Double]?, _ n: Int) -> Bool {
        guard let t = t else { return true }
        return t.count == n && t.allSatisfy { $0 > 0 && $0.isFinite }
    }
}

// MARK: - Paired comparison of two recipes

/// One recipe against a reference recipe of the same formats, paired over windows and seeds.
public struct PairedComparison: Sendable {
    /// Seeds paired (cell seed, reference seed), in order.
    public var seedPairs: [(cell: Int, reference: Int)]
    public var windows: Int
    /// Mean over paired seeds of the cell's and the reference's PPL.
    public var ppl: Double
    public var referencePPL: Double
    /// Mean over paired seeds of exp(mean NLL cell) − exp(mean NLL reference), and its 95 % CI.
    public var delta: Double
    public var ci: Interval
    /// Share of (seed, window) pairs where the cell's window NLL is lower (ties count as no win).
    public var windowWinShare: Double
    /// Share of paired seeds where the cell's PPL is lower.
    public var seedWinShare: Double
    public var verdict: Verdict { Verdict(deltaCI: ci) }

    /// Compares per-seed window NLLs `cell[k]` with `reference[k]` (k-th seed pair).
    /// nil when there is nothing to pair or window counts differ.
    public init?(cell: [[Double]], reference: [[Double]], seedPairs: [(cell: Int, reference: Int)],
                 resamples: Int = Bootstrap.resamples, seed: UInt64 = Bootstrap.seed) {
        guard !cell.isEmpty, cell.count == reference.count, cell.count == seedPairs.count,
              let ci = Bootstrap.seedsPairedDeltaCI(cell, reference, resamples: resamples, seed: seed) else { return nil }
        let n = cell[0].count
        let all = Array(0..<n)
        let cp = cell.map { Foundation.exp(Bootstrap.weightedMean($0, tokens: nil, indices: all)) }
        let rp = reference.map { Foundation.exp(Bootstrap.weightedMean($0, tokens: nil, indices: all)) }
        let S = Double(cell.count)
        self.seedPairs = seedPairs
        windows = n
        ppl = cp.reduce(0, +) / S
        referencePPL = rp.reduce(0, +) / S
        delta = zip(cp, rp).map { $0 - $1 }.reduce(0, +) / S
        self.ci = ci
        var wins = 0
        for k in cell.indices { for j in 0..<n where cell[k][j] < reference[k][j] { wins += 1 } }
        windowWinShare = Double(wins) / (S * Double(n))
        seedWinShare = Double(zip(cp, rp).filter { $0 < $1 }.count) / S
    }
}

// MARK: - Summary statistics over seeds

/// Mean, sample standard deviation (n − 1; nil for one value), min and max.
public struct SeedStats: Sendable, Equatable {
    public var n: Int
    public var mean: Double
    public var sd: Double?
    public var min: Double
    public var max: Double
    public init?(_ v: [Double]) {
        guard !v.isEmpty else { return nil }
        n = v.count
        mean = v.reduce(0, +) / Double(v.count)
        let m = mean
        sd = v.count > 1 ? (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : nil
        min = v.min()!; max = v.max()!
    }
}
