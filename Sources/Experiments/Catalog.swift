import Foundation

/// The names a manifest may use for formats, scale rules, roundings, datasets and
/// PTQ stages, with their parameters. Validation and the README schema come from here.
public enum Catalog {
    /// Canonical MX element format names (the format layer's `MXFormat` raw values) and element bits.
    public static let formats: [(name: String, bits: Int)] = [
        ("mxint8", 8), ("mxint4", 4), ("mxfp8_e4m3", 8), ("mxfp8_e5m2", 8),
        ("mxfp6_e3m2", 6), ("mxfp6_e2m3", 6), ("mxfp4_e2m1", 4),
    ]
    /// Aliases accepted on input (resolved to the canonical name).
    public static let formatAliases: [String: String] = ["mxfp8": "mxfp8_e4m3", "mxfp6": "mxfp6_e2m3", "mxfp4": "mxfp4_e2m1"]

    /// Canonical name for `s` (case-insensitive, aliases allowed), or nil.
    public static func canonicalFormat(_ s: String) -> String? {
        let l = s.lowercased()
        if formats.contains(where: { $0.name == l }) { return l }
        return formatAliases[l]
    }

    /// Element bits of a canonical format name.
    public static func elementBits(_ name: String) -> Int? { formats.first { $0.name == name }?.bits }

    /// Storage bits per weight element including the shared 8-bit E8M0 scale (32 for fp32).
    public static func storageBits(format: String?, block: Int) -> Double {
        guard let f = format, let b = elementBits(f) else { return 32 }
        return Double(b) + 8.0 / Double(block)
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
    /// Block sizes accepted (the MX spec uses 32; partial last blocks are padded).
    public static let blockRange = 1...1024

    /// A stage parameter: its name, type/range, default and meaning.
    public struct Param: Sendable {
        public enum Kind: Sendable { case number(ClosedRange<Double>), integer(ClosedRange<Int>), bool }
        public let name: String
        public let kind: Kind
        public let defaultValue: ParamValue
        public let doc: String
    }

    /// A PTQ stage a recipe may list.
    public struct StageSpec: Sendable {
        public let name: String
        public let aliases: [String]
        public let params: [Param]
        /// Stages that only change how weights are rounded make no sense with weights = none.
        public let needsWeightFormat: Bool
        public let doc: String
    }

    public static let stages: [StageSpec] = [
        StageSpec(name: "smoothquant", aliases: ["sq"], params: [
            Param(name: "alpha", kind: .number(0...1), defaultValue: .number(0.5),
                  doc: "migration strength: s_j = max|X_j|^alpha / max|W_j|^(1-alpha)"),
        ], needsWeightFormat: false, doc: "SmoothQuant: per-channel scales folded into the preceding layer"),
        StageSpec(name: "awq", aliases: [], params: [
            Param(name: "grid", kind: .integer(1...100), defaultValue: .integer(20),
                  doc: "number of alpha points searched in [0, 1)"),
            Param(name: "clip", kind: .bool, defaultValue: .bool(true),
                  doc: "also search a clipping ratio per block (not for q/k)"),
        ], needsWeightFormat: true, doc: "AWQ: activation-aware scale search"),
        StageSpec(name: "gptq", aliases: [], params: [
            Param(name: "act_order", kind: .bool, defaultValue: .bool(false),
                  doc: "process columns by decreasing Hessian diagonal"),
            Param(name: "damp", kind: .number(0.000001...1), defaultValue: .number(0.01),
                  doc: "dampening as a fraction of the mean Hessian diagonal"),
            Param(name: "block_size", kind: .integer(1...4096), defaultValue: .integer(128),
                  doc: "columns per lazy batch update"),
        ], needsWeightFormat: true, doc: "GPTQ: Hessian-aware rounding on the MX grid"),
    ]

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
