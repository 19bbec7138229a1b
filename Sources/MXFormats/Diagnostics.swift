import Foundation

/// What quantizing a tensor did to it. Counts are over logical elements (padding excluded);
/// error sums are over elements of finite blocks (blocks holding NaN/Inf are only counted).
/// Sums are accumulated in a fixed order (see `MXReference.fakeQuantize`), so they do not
/// depend on the thread count.
public struct MXDiagnostics: Sendable, Hashable {
    /// Logical elements seen.
    public var elements = 0
    /// Elements in finite blocks (those the error sums cover).
    public var finiteElements = 0
    /// Elements whose scaled magnitude |v|/2^E exceeded the format's max normal (clipped).
    public var saturated = 0
    /// Non-zero inputs that decode to zero.
    public var flushedToZero = 0
    /// Blocks that held NaN or ±Inf (scale byte 0xFF, decode to NaN).
    public var nonFiniteBlocks = 0
    /// Blocks per scale byte (256 bins; bin 255 = non-finite blocks).
    public var exponentHistogram = [Int](repeating: 0, count: 256)
    /// Σ (v - q)^2 and Σ v^2 over elements of finite blocks.
    public var sumSquaredError = 0.0
    public var sumSquaredSignal = 0.0

    public init() {}

    /// Mean squared error per finite element (0 if there are none).
    public var mse: Double { finiteElements == 0 ? 0 : sumSquaredError / Double(finiteElements) }

    /// Signal-to-quantization-noise ratio in dB: 10·log10(Σv² / Σ(v-q)²); +inf if there is no error.
    public var sqnrDB: Double {
        if sumSquaredError == 0 { return .infinity }
        return 10 * log10(sumSquaredSignal / sumSquaredError)
    }

    /// Blocks counted in the histogram.
    public var blocks: Int { exponentHistogram.reduce(0, +) }

    /// Adds `other` (sums in the order of merging).
    public mutating func merge(_ other: MXDiagnostics) {
        elements += other.elements
        finiteElements += other.finiteElements
        saturated += other.saturated
        flushedToZero += other.flushedToZero
        nonFiniteBlocks += other.nonFiniteBlocks
        for i in 0..<256 { exponentHistogram[i] += other.exponentHistogram[i] }
        sumSquaredError += other.sumSquaredError
        sumSquaredSignal += other.sumSquaredSignal
    }

    /// Smallest unbiased shared exponent E over finite blocks, nil if none.
    public var scaleExponentMin: Int? {
        (0..<255).first { exponentHistogram[$0] > 0 }.map { $0 - 127 }
    }
    /// Largest unbiased shared exponent E over finite blocks, nil if none.
    public var scaleExponentMax: Int? {
        (0..<255).last { exponentHistogram[$0] > 0 }.map { $0 - 127 }
    }
    /// Lower median of the shared exponents of finite blocks, nil if none.
    public var scaleExponentMedian: Int? {
        let n = exponentHistogram[0..<255].reduce(0, +)
        if n == 0 { return nil }
        let target = (n - 1) / 2
        var seen = 0
        for b in 0..<255 {
            seen += exponentHistogram[b]
            if seen > target { return b - 127 }
        }
        return nil
    }
}
