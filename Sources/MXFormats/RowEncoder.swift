// Row-level encoding for kernels that quantize their own operand (e.g. MX × MX activations
// quantized while packed), so that they need no separate MXTensor pass.

/// Reusable encoder of fp32 rows into MX scale bytes and packed element codes: the same
/// bytes as row `row` of `MXTensor(encoding:rows:cols:config:)` for any configuration
/// (scale rule, rounding; stochastic rounding is keyed by `row`).
public struct MXRowEncoder: @unchecked Sendable {
    let codec: RowCodec
    public let config: MXConfig
    public init(_ config: MXConfig) { self.config = config; codec = RowCodec(config) }

    /// Bytes of packed codes per block: ceil(block · elementBits / 8).
    public var bytesPerBlock: Int { codec.bytesPerBlock }

    /// Encodes `cols` values at `src` as row `row`: writes ceil(cols/block) scale bytes to
    /// `scales` and ceil(cols/block)·bytesPerBlock packed bytes (partial block zero-padded) to `packed`.
    public func encodeRow(_ src: UnsafePointer<Float>, cols: Int, row: Int,
                          scales: UnsafeMutablePointer<UInt8>, packed: UnsafeMutablePointer<UInt8>) {
        _ = codec.encodeRow(src, cols: cols, row: row, scales: scales, packed: packed, fakeOut: nil, stats: nil)
    }
}
