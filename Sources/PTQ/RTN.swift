import Support
import MXFormats

/// Round-to-nearest: the format layer's quantize-dequantize of a weight matrix.
public enum RTN {
    /// Replaces `weight` ([rows, cols] row-major, blocks along cols) by its MX fake-quantized
    /// values and returns the format layer's diagnostics.
    @discardableResult
    public static func quantize(weight: inout [Float], rows: Int, cols: Int, config: MXConfig) -> WeightDiagnostics {
        precondition(weight.count == rows * cols)
        let d = weight.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: rows, cols: cols, config: config) }
        return WeightDiagnostics(d)
    }

    /// Fake-quantized copy.
    public static func quantized(_ weight: [Float], rows: Int, cols: Int, config: MXConfig?) -> [Float] {
        guard let c = config else { return weight }
        var w = weight
        quantize(weight: &w, rows: rows, cols: cols, config: c)
        return w
    }
}
