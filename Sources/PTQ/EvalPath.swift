// Which product each quantized linear runs in evaluation: packed integer MX kernels, packed
// MX (dequantizing) kernels, or fp32 fake-quant weights; and packing for the integer kernels.
import Foundation
import MXFormats
import MXKernels
import Runtime

/// How one linear layer's product runs (what `Linear.forward` does without an observer).
public enum LinearProductPath: String, Sendable, CaseIterable {
    /// Packed MXINT weights × MXINT8 activations on the integer kernels (`Kernels.intMXApplies`).
    case packedInt = "packed-int"
    /// Packed MX weights through the dequantizing MX kernels (`Kernels.mxgemm`), activations
    /// fake-quantized when the layer has an activation format.
    case packed = "packed"
    /// fp32 fake-quant weights (and a fake-quantized input copy) through the fp32 GEMM.
    case fakeQuant = "fake-quant"

    /// The path of `lin` as it stands.
    public static func of(_ lin: Linear) -> LinearProductPath {
        guard let p = lin.packed else { return .fakeQuant }
        if let a = lin.actQuant, Kernels.intMXApplies(acts: a, weights: p.config) { return .packedInt }
        return .packed
    }
}

/// The products the quantized linears of `model` run (a linear is quantized when `plan` gives it
/// a weight or an activation format): the distinct `LinearProductPath`s in the order packed-int,
/// packed, fake-quant, joined by "+" (e.g. `packed-int`, `packed-int+fake-quant`); `fp32` when
/// no linear is quantized. The `path` column of a sweep's records.
public func evaluationPath(model: LlamaModel, plan: QuantPlan) -> String {
    var seen = Set<LinearProductPath>()
    for lin in model.linears {
        let s = plan.spec(for: lin.name)
        if s.weight != nil || s.act != nil { seen.insert(.of(lin)) }
    }
    let parts = LinearProductPath.allCases.filter { seen.contains($0) }
    return parts.isEmpty ? "fp32" : parts.map(\.rawValue).joined(separator: "+")
}

/// Packs, for evaluation on the integer MX kernels, the weights of every linear whose product
/// they run: weight format from `plan` and activation format `Linear.actQuant` (set by
/// `quantize`) accepted by `Kernels.intMXApplies` (MXINT8 activations × MXINT4/MXINT8 weights,
/// block 32). Each weight is encoded from its fake-quantized fp32 values and kept packed only if
/// it decodes to exactly those values (a weight on its block grid always does), so the product
/// equals the fake-quant one up to fp32 summation order; other linears keep their fp32
/// fake-quant weights. Returns the number of linears packed.
@discardableResult
public func packWeightsForIntegerKernels(model: LlamaModel, plan: QuantPlan) -> Int {
    var packed = 0
    for lin in model.linears where packForIntegerKernels(lin, weights: plan.spec(for: lin.name).weight) { packed += 1 }
    return packed
}

/// Packs `lin` for the integer MX kernels when its weight format `weights` and its activation
/// format (`lin.actQuant`) run there and its fake-quantized weight re-encodes exactly; otherwise
/// leaves it unpacked. Returns whether it was packed.
@discardableResult
func packForIntegerKernels(_ lin: Linear, weights: MXConfig?) -> Bool {
    lin.packed = nil
    guard let wc = weights, let aq = lin.actQuant, Kernels.intMXApplies(acts: aq, weights: wc) else { return false }
    let (t, bad) = packedEncoding(lin, config: wc)
    if bad == 0 { lin.packed = t }
    return bad == 0
}

/// Whether a linear quantized per `spec` runs on the integer MX kernels (`Kernels.intMXApplies`:
/// an activation format and a weight format that pair there).
public func integerKernelsApply(_ spec: QuantSpec) -> Bool {
    guard let w = spec.weight, let a = spec.act else { return false }
    return Kernels.intMXApplies(acts: a, weights: w)
}
