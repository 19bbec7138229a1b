import Foundation
import MXFormats
import PTQ

/// The names a manifest may use for formats, scale rules, roundings, datasets and
/// PTQ stages, with their parameters. Validation and the README schema come from here.
public enum Catalog {
    /// Canonical MX element format names (the format layer's `MXFormat` raw values) and element bits.
    public static let formats: [(name: String, bits: Int)] = MXFormat.allCases.map { ($0.rawValue, $0.elementBits) }
    /// Aliases accepted on input (resolved to the canonical name).
    public static let formatAliases: [String: String] = MXFormat.aliases.mapValues(\.rawValue)

    /// Canonical name for `s` (case-insensitive, aliases allowed), or nil.
    public static func canonicalFormat(_ s: String) -> String? { (try? MXFormat(parsing: s))?.rawValue }

    /// Element bits of a canonical format name.
    public static func elementBits(_ name: String) -> Int? { MXFormat(rawValue: name)?.elementBits }

    /// Storage bits per weight element including the shared 8-bit E8M0 scale (32 for fp32).
    public static func storageBits(format: String?, block: Int) -> Double {
        guard let f = format.flatMap({ MXFormat(rawValue: $0) }) else { return 32 }
        return f.storageBitsPerElement(block: block)
    }

    public static var formatChoices: String {
        "\"none\", " + formats.map { "\"\($0.name)\"" }.joined(separator: ", ") + " (aliases: mxfp8, mxfp6, mxfp4)"
    }

    public static let scaleRules = ["floor", "ceil"]
    public static let roundings = ["even", "away", "stochastic"]
    public static let datasets = ["wikitext2", "ptb"]
    /// Calibration dataset names (anything else is a path to a UTF-8 text file).
    public static let calibrationDatasets = ["ptb-train"]
    public static let defaultModel = "smollm2-135m"
    /// Block sizes accepted: even, in this range (the MX spec uses 32; partial last blocks are padded).
    public static let blockRange = 2...1024
    public static func isValidBlock(_ b: Int) -> Bool { blockRange.contains(b) && MXConfig.isValidBlock(b) }

    /// A stage parameter: its name, type/range, default and meaning.
    public struct Param: Sendable {
        public enum Kind: Sendable { case number(ClosedRange<Double>), integer(ClosedRange<Int>), bool }
        public let name: String
        public let kind: Kind
        /// The default; nil for an optional parameter (absent unless given: it then inherits, e.g.
        /// SmoothQuant's per-kind alphas inherit `alpha`).
        public let defaultValue: ParamValue?
        public let doc: String
        /// Left out of the stage's description and resolved JSON when at its default, so
        /// parameters added later do not change the identity (manifest sha256, `stages`
        /// column) of manifests and results written before they existed.
        public var omittedAtDefault: Bool = false
    }

    /// A PTQ stage a recipe may list.
    public struct StageSpec: Sendable {
        public let name: String
        public let aliases: [String]
        public let params: [Param]
        /// Stages that only change how weights are rounded make no sense with weights = none.
        public let needsWeightFormat: Bool
        public let doc: String
        public func param(_ name: String) -> Param? { params.first { $0.name == name } }
    }

    public static let stages: [StageSpec] = [
        StageSpec(name: "smoothquant", aliases: ["sq"], params: [
            Param(name: "alpha", kind: .number(0...1), defaultValue: .number(0.5),
                  doc: "migration strength: s_j = max|X_j|^alpha / max|W_j|^(1-alpha)"),
            Param(name: "alpha_qkv", kind: .number(0...1), defaultValue: nil,
                  doc: "alpha for the q/k/v group (folded into the input RMSNorm); default: alpha", omittedAtDefault: true),
            Param(name: "alpha_o", kind: .number(0...1), defaultValue: nil,
                  doc: "alpha for o_proj (folded into v_proj's rows); default: alpha", omittedAtDefault: true),
            Param(name: "alpha_gate_up", kind: .number(0...1), defaultValue: nil,
                  doc: "alpha for the gate/up group (folded into the post-attention RMSNorm); default: alpha", omittedAtDefault: true),
            Param(name: "alpha_down", kind: .number(0...1), defaultValue: nil,
                  doc: "alpha for down_proj (folded into up_proj's rows); default: alpha", omittedAtDefault: true),
        ], needsWeightFormat: false, doc: "SmoothQuant: per-channel scales folded into the preceding layer"),
        StageSpec(name: "awq", aliases: [], params: [
            Param(name: "grid", kind: .integer(1...100), defaultValue: .integer(20),
                  doc: "number of alpha points searched in [0, 1)"),
            Param(name: "max_shrink", kind: .number(0...0.95), defaultValue: .number(0.5),
                  doc: "clipping search shrinks each block's max from 1.0 down to 1 - max_shrink (0: no clipping; never for q/k)"),
            Param(name: "search_tokens", kind: .integer(1...1_048_576), defaultValue: .integer(AWQOptions().searchTokens),
                  doc: "calibration tokens per layer input used by the scale search (evenly strided; at most calibration n x len)",
                  omittedAtDefault: true),
            Param(name: "clip_tokens", kind: .integer(1...1_048_576), defaultValue: .integer(AWQOptions().clipTokens),
                  doc: "tokens used by the clipping search (a strided subsample of the search tokens, so at most search_tokens)",
                  omittedAtDefault: true),
        ], needsWeightFormat: true, doc: "AWQ: activation-aware scale search"),
        StageSpec(name: "gptq", aliases: [], params: [
            Param(name: "act_order", kind: .bool, defaultValue: .bool(false),
                  doc: "process columns by decreasing Hessian diagonal"),
            Param(name: "damp", kind: .number(0.000001...1), defaultValue: .number(0.01),
                  doc: "dampening as a fraction of the mean Hessian diagonal"),
            Param(name: "block_size", kind: .integer(1...4096), defaultValue: .integer(128),
                  doc: "columns per lazy batch update"),
            Param(name: "true_sequential", kind: .bool, defaultValue: .bool(true),
                  doc: "each Hessian from its layer's inputs after the block's earlier layers are quantized (o after q/k/v, gate/up after o, down after gate/up); false: all from the block before GPTQ"),
        ], needsWeightFormat: true, doc: "GPTQ: Hessian-aware rounding on the MX grid"),
        StageSpec(name: "rtn", aliases: [], params: [], needsWeightFormat: false,
                  doc: "round-to-nearest onto the MX grid (implicit at the end of a recipe without gptq)"),
    ]

    /// Stages that put the weights on the MX grid: at most one, and it must be last.
    public static let roundingStages: Set<String> = ["gptq", "rtn"]

    /// Why a stage order cannot run (index of the offending stage, message), or nil.
    public static func orderProblem(_ names: [String]) -> (Int, String)? {
        var seen = Set<String>()
        for (i, n) in names.enumerated() {
            if !seen.insert(n).inserted {
                return (i, "stage \"\(n)\" appears twice in this recipe (a stage run again on its own output measures nothing new; write two recipes)")
            }
        }
        for (i, n) in names.enumerated() where roundingStages.contains(n) {
            if seen.contains("rtn") && seen.contains("gptq") {
                return (i, "\"rtn\" and \"gptq\" are both roundings of the same weights; use one")
            }
            if i != names.count - 1 {
                return (i + 1, "stage \"\(names[i + 1])\" comes after the rounding stage \"\(n)\", which must be last (the weights are already on the MX grid)")
            }
        }
        return nil
    }

    public static func stage(named s: String) -> StageSpec? {
        let l = s.lowercased()
        return stages.first { $0.name == l || $0.aliases.contains(l) }
    }

    public static var stageChoices: String {
        stages.map { "\"\($0.name)\"" + ($0.aliases.isEmpty ? "" : " (alias \($0.aliases.map { "\"\($0)\"" }.joined(separator: ", ")))") }
            .joined(separator: ", ")
    }
}

/// A stage parameter value.
public enum ParamValue: Hashable, Sendable, CustomStringConvertible {
    case number(Double), integer(Int), bool(Bool)
    public var description: String {
        switch self {
        case .number(let d): return fmtNumber(d)
        case .integer(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        }
    }
    var json: Any {
        switch self {
        case .number(let d): return d
        case .integer(let i): return i
        case .bool(let b): return b
        }
    }
    public var doubleValue: Double? {
        switch self { case .number(let d): return d; case .integer(let i): return Double(i); case .bool: return nil }
    }
    public var intValue: Int? { if case .integer(let i) = self { return i }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
}
