// A named linear layer: the hook point through which quantizers replace weights and see
// (or quantize) input activations.
import Foundation
import Support
import MXFormats
import MXKernels

/// Called with the layer, its input X[M, K] exactly as the layer multiplies it (after
/// activation quantization, if any), and M. The buffer is only valid during the call.
public typealias LinearInputObserver = (Linear, UnsafeBufferPointer<Float>, Int) -> Void

/// Y[M, N] = X[M, K] · Wᵀ (+ b) with W[N, K] row-major (one row per output feature, as
/// GGUF/safetensors/PyTorch store it) and an optional fp32 bias b[N] (Qwen2's q/k/v, Llama with
/// `attention_bias`), added after the product whatever the product is (fp32, fake-quant, packed,
/// MX × MX): quantization never touches the bias.
///
/// Hooks:
/// - `weight` may be replaced (e.g. by fake-quantized weights) with an array of the same size.
///   A layer loaded with 16-bit weights (`storage` `.half`) keeps them 16-bit and widens them
///   inside the GEMM's packing (`Kernels.sgemm16`, bitwise the fp32 product); see `weight`.
/// - `packed`: when set, the product uses these MX-packed weights instead of `weight`.
/// - `actQuant`: when set, the input is MX fake-quantized per token (blocks along K) on a
///   copy before the product (dynamic activation quantization); observers see the copy.
public final class Linear {
    /// Hook name, e.g. `layers.7.mlp.down_proj`, `layers.0.self_attn.q_proj`, `lm_head`.
    public let name: String
    /// N: number of output features (rows of W).
    public let outFeatures: Int
    /// K: number of input features (columns of W; MX blocks run along K).
    public let inFeatures: Int
    /// How W[N, K] is held: fp32, or 16-bit (bf16/f16: a view into a memory-mapped checkpoint or
    /// an owned copy) widened to fp32 inside the GEMM's packing (bitwise the fp32 product).
    public enum Storage {
        case f32([Float])
        case half(HalfWeights)
    }
    /// The weight as stored (see `weight` for the fp32 values).
    public private(set) var storage: Storage
    /// True when the layer was built from 16-bit weights: `weight` assignments whose values are
    /// all exact bfloat16 values (every MX fake-quant value in practice) are then stored as bf16,
    /// the others as fp32. A model loaded as fp32 always stores fp32.
    public let compact: Bool

    /// W[N, K] row-major fp32, `outFeatures * inFeatures` values. Reading a 16-bit weight widens
    /// it into a new array (exact); assigning stores fp32, or bf16 when `compact` and every value
    /// is exactly a bfloat16 (lossless either way: reading back gives the assigned values).
    public var weight: [Float] {
        get {
            switch storage {
            case .f32(let w): return w
            case .half(let h): return h.widened()
            }
        }
        set {
            precondition(newValue.count == outFeatures * inFeatures,
                         "\(name): weight must have \(outFeatures)×\(inFeatures) values, got \(newValue.count)")
            if compact, let h = HalfWeights.exactBF16(newValue) {
                if case .half(let old) = storage { old.releaseResidentPages() }
                storage = .half(h)
            } else {
                storage = .f32(newValue)
            }
        }
    }

    /// Bytes the weight occupies as stored (4 or 2 per value; a mapped view counts as stored).
    public var weightBytes: Int {
        switch storage {
        case .f32(let w): return 4 * w.count
        case .half(let h): return 2 * h.count
        }
    }

    /// Packed MX weights [N, K] (blocks along K) used instead of `weight` when non-nil.
    public var packed: MXTensor? {
        didSet {
            if let p = packed {
                precondition(p.rows == outFeatures && p.cols == inFeatures,
                             "\(name): packed weight must be \(outFeatures)×\(inFeatures), got \(p.rows)×\(p.cols)")
            }
        }
    }
    /// Dynamic per-token MX quantization of the input (nil: fp32 input).
    public var actQuant: MXConfig?
    /// fp32 bias b[N] added to every output row after the product (nil: none).
    public var bias: [Float]? {
        didSet {
            if let b = bias { precondition(b.count == outFeatures, "\(name): bias must have \(outFeatures) values, got \(b.count)") }
        }
    }

    public convenience init(name: String, outFeatures: Int, inFeatures: Int, weight: [Float]) {
        self.init(name: name, outFeatures: outFeatures, inFeatures: inFeatures, storage: .f32(weight))
    }

    /// A layer whose weight is `storage` (16-bit storage makes the layer `compact`).
    public init(name: String, outFeatures: Int, inFeatures: Int, storage: Storage) {
        precondition(outFeatures > 0 && inFeatures > 0)
        let count: Int
        switch storage {
        case .f32(let w): count = w.count; compact = false
        case .half(let h): count = h.count; compact = true
        }
        precondition(count == outFeatures * inFeatures,
                     "\(name): weight must have \(outFeatures)×\(inFeatures) values, got \(count)")
        self.name = name
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.storage = storage
    }

    /// Y[M, N] = X[M, K] · Wᵀ. `x` holds M·K floats, `y` room for M·N (overwritten).
    /// `observer` (if non-nil) sees the input as multiplied.
    public func forward(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>,
                        observer: LinearInputObserver? = nil, threads: Int? = nil) {
        if m == 0 { return }
        if observer == nil, let p = packed, let aq = actQuant, Kernels.intMXApplies(acts: aq, weights: p.config) {
            // MXINT × MXINT: the integer kernels quantize X while packing it (the same codes as
            // the fake-quant copy below), so no fp32 copy; equal to it up to fp32 summation order.
            Kernels.mxmxgemm(m: m, x: x, acts: aq, w: p, y: y, threads: threads)
            addBias(y, rows: m, threads: threads)
            return
        }
        withMultipliedInput(x, rows: m, threads: threads) {
            multiply($0, rows: m, into: y, observer: observer, threads: threads)
        }
        addBias(y, rows: m, threads: threads)
    }

    /// Several layers reading the same input X[M, K] (q/k/v; gate/up), in order: the same as
    /// calling `forward` on each (`ys[i]` room for M·N of layer i), except that when every layer
    /// runs the integer MX GEMM with one activation format (`IntMXPackedActs.applies`; no
    /// observer), X is quantized and packed once for all of them instead of once per layer —
    /// the same bytes, so bit-identical outputs. `shareInput: false` always calls `forward`.
    public static func forward(_ layers: [Linear], _ x: UnsafePointer<Float>, rows m: Int,
                               into ys: [UnsafeMutablePointer<Float>], observer: LinearInputObserver? = nil,
                               threads: Int? = nil, shareInput: Bool = true) {
        precondition(layers.count == ys.count && !layers.isEmpty, "Linear.forward: one output per layer")
        if shareInput, observer == nil, layers.count > 1, let aq = layers[0].actQuant,
           layers.allSatisfy({ l in l.inFeatures == layers[0].inFeatures && l.actQuant == aq
                                && l.packed.map { IntMXPackedActs.applies(m: m, acts: aq, weights: $0.config) } == true }) {
            let xa = IntMXPackedActs(m: m, k: layers[0].inFeatures, x: x, acts: aq, threads: threads)
            for (l, y) in zip(layers, ys) {
                Kernels.intmxgemm(packed: xa, w: l.packed!, y: y, threads: threads)
                l.addBias(y, rows: m, threads: threads)
            }
            return
        }
        for (l, y) in zip(layers, ys) { l.forward(x, rows: m, into: y, observer: observer, threads: threads) }
    }

    /// y[r, n] += bias[n] for r in 0..<m (nothing without a bias).
    private func addBias(_ y: UnsafeMutablePointer<Float>, rows m: Int, threads: Int?) {
        guard let b = bias else { return }
        let n = outFeatures
        b.withUnsafeBufferPointer { bp in
            let B = UncheckedSendable(bp.baseAddress!), Y = UncheckedSendable(y)
            Parallel.forRanges(m, threads: threads, minChunk: max(1, 16384 / n)) { range in
                for r in range {
                    let row = Y.value + r * n
                    for j in 0..<n { row[j] += B.value[j] }
                }
            }
        }
    }

    /// Shows `observer` the input exactly as `forward` would multiply it (activation-quantized
    /// when `actQuant` is set) without computing the product (calibration passes).
    public func observe(_ x: UnsafePointer<Float>, rows m: Int, observer: LinearInputObserver, threads: Int? = nil) {
        if m == 0 { return }
        withMultipliedInput(x, rows: m, threads: threads) {
            observer(self, UnsafeBufferPointer(start: $0, count: m * inFeatures), m)
        }
    }

    /// Calls `body` with the input as the product multiplies it: `x` itself, or an
    /// activation-quantized copy in scratch memory (valid only during `body`) when `actQuant` is set.
    private func withMultipliedInput(_ x: UnsafePointer<Float>, rows m: Int, threads: Int?,
                                     _ body: (UnsafePointer<Float>) -> Void) {
        guard let aq = actQuant else { body(x); return }
        let n = m * inFeatures
        let buf = ScratchPool.shared.take(n)
        defer { ScratchPool.shared.give(buf) }
        let xq = buf.pointer
        xq.update(from: x, count: n)
        mxFakeQuantize(UnsafeMutableBufferPointer(start: xq, count: n), rows: m, cols: inFeatures, config: aq,
                       threads: threads)
        body(UnsafePointer(xq))
    }

    private func multiply(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>,
                          observer: LinearInputObserver?, threads: Int?) {
        if let obs = observer { obs(self, UnsafeBufferPointer(start: x, count: m * inFeatures), m) }
        if let p = packed {
            Kernels.mxgemm(m: m, x: x, w: p, y: y, threads: threads)
            return
        }
        switch storage {
        case .f32(let weight):
            weight.withUnsafeBufferPointer { w in
                Gemm.xwt(m: m, n: outFeatures, k: inFeatures, x: x, w: w.baseAddress!, y: y, threads: threads)
            }
        case .half(let h):
            Kernels.sgemm16(m: m, n: outFeatures, k: inFeatures, x: x, w: h.base, format: h.format, y: y, threads: threads)
        }
    }

    /// Convenience: X[M·K] → Y[M·N].
    public func forward(_ x: [Float], rows m: Int, observer: LinearInputObserver? = nil) -> [Float] {
        precondition(x.count == m * inFeatures, "\(name): input must have \(m)×\(inFeatures) values")
        var y = [Float](repeating: 0, count: m * outFeatures)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                forward(xp.baseAddress!, rows: m, into: yp.baseAddress!, observer: observer)
            }
        }
        return y
    }
}

/// Reusable fp32 scratch buffers (avoids mapping fresh pages for every activation copy).
/// Thread-safe; a buffer is used by one caller at a time.
final class ScratchPool: @unchecked Sendable {
    static let shared = ScratchPool()
    struct Buffer { let pointer: UnsafeMutablePointer<Float>; let capacity: Int }
    private let lock = NSLock()
    private var free: [Buffer] = []

    /// A buffer of at least `count` floats (contents unspecified).
    func take(_ count: Int) -> Buffer {
        lock.lock()
        if let i = free.firstIndex(where: { $0.capacity >= count }) {
            let b = free.remove(at: i)
            lock.unlock()
            return b
        }
        lock.unlock()
        let cap = max(count, 1)
        let p = UnsafeMutablePointer<Float>.allocate(capacity: cap)
        p.initialize(repeating: 0, count: cap)
        return Buffer(pointer: p, capacity: cap)
    }

    /// Returns a buffer; keeps at most four (the largest), freeing the rest.
    func give(_ b: Buffer) {
        lock.lock()
        free.append(b)
        free.sort { $0.capacity > $1.capacity }
        let drop = free.count > 4 ? Array(free[4...]) : []
        if free.count > 4 { free.removeLast(free.count - 4) }
        lock.unlock()
        for d in drop { d.pointer.deallocate() }
    }
}
