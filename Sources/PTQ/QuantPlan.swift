import Support
import MXFormats

/// What one linear layer is quantized to: weights (blocks along each row, i.e. along K)
/// and the dynamic per-token activation format of its input (blocks along K). `nil`
/// leaves that side fp32.
public struct QuantSpec: Hashable, Sendable, CustomStringConvertible {
    public var weight: MXConfig?
    public var act: MXConfig?
    public init(weight: MXConfig? = nil, act: MXConfig? = nil) { self.weight = weight; self.act = act }
    public static let fp32 = QuantSpec()
    public var description: String {
        "W=\(weight.map { "\($0.format.rawValue)/\($0.block)" } ?? "fp32") A=\(act.map { "\($0.format.rawValue)/\($0.block)" } ?? "fp32")"
    }
}

/// The seven linear layers of a decoder block, plus the LM head.
public enum LinearKind: String, CaseIterable, Sendable, Hashable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj", gate = "gate_proj", up = "up_proj", down = "down_proj"
    case lmHead = "lm_head"

    /// The runtime's name of this linear in block `layer` (`layers.{i}.self_attn.q_proj`, …, `lm_head`).
    public func name(layer: Int) -> String {
        switch self {
        case .q, .k, .v, .o: return "layers.\(layer).self_attn.\(rawValue)"
        case .gate, .up, .down: return "layers.\(layer).mlp.\(rawValue)"
        case .lmHead: return "lm_head"
        }
    }
    public static let blockKinds: [LinearKind] = [.q, .k, .v, .o, .gate, .up, .down]

    /// Parses a linear's runtime name back to (layer, kind); nil if it is not one.
    public static func parse(_ name: String) -> (layer: Int, kind: LinearKind)? {
        if name == "lm_head" { return (-1, .lmHead) }
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "layers", let i = Int(parts[1]),
              let k = LinearKind(rawValue: String(parts[3])), k != .lmHead else { return nil }
        return (i, k)
    }
}

/// One choice in a per-layer override: keep what the defaults say, force fp32, or a format.
public enum FormatSetting: Hashable, Sendable {
    case inherit, fp32, mx(MXConfig)
    func apply(_ base: MXConfig?) -> MXConfig? {
        switch self { case .inherit: return base; case .fp32: return nil; case .mx(let c): return c }
    }
}

/// A per-layer override: every linear whose name matches the glob `pattern`
/// (`*` any run of characters including dots, `?` one character), e.g. `layers.0.*`, `*.down_proj`.
public struct LayerOverride: Hashable, Sendable {
    public var pattern: String
    public var weight: FormatSetting
    public var act: FormatSetting
    public init(pattern: String, weight: FormatSetting = .inherit, act: FormatSetting = .inherit) {
        self.pattern = pattern; self.weight = weight; self.act = act
    }
}

/// The whole quantization configuration of a model: defaults for the seven linears of
/// every block, ordered overrides (later ones win), the LM head (fp32 unless set; overrides
/// matching `lm_head` apply to it only when `quantizeLMHead` is true), and the recipe.
public struct QuantPlan: Sendable {
    public var defaults: QuantSpec
    public var overrides: [LayerOverride]
    public var quantizeLMHead: Bool
    public var recipe: Recipe

    public init(defaults: QuantSpec, overrides: [LayerOverride] = [], quantizeLMHead: Bool = false,
                recipe: Recipe = Recipe.rtn) {
        self.defaults = defaults; self.overrides = overrides; self.quantizeLMHead = quantizeLMHead; self.recipe = recipe
    }

    /// The spec of the linear named `name` (runtime naming).
    public func spec(for name: String) -> QuantSpec {
        if name == "lm_head" && !quantizeLMHead { return .fp32 }
        var s = defaults
        for o in overrides where globMatch(o.pattern, name) {
            s.weight = o.weight.apply(s.weight)
            s.act = o.act.apply(s.act)
        }
        return s
    }

    /// Parses one override written `PATTERN=W[,A]` where W and A are a format name,
    /// `none` (fp32) or `-` (keep the default), e.g. `layers.0.*=mxint8`, `*.down_proj=mxint8,mxint8`.
    /// Block size, scale rule and rounding follow `base`.
    public static func parseOverride(_ text: String, base: MXConfig) throws -> LayerOverride {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw UsageError("--override '\(text)': expected PATTERN=WEIGHTS[,ACTS], e.g. 'layers.0.*=mxint8,none'")
        }
        let pattern = String(text[..<eq])
        let rest = text[text.index(after: eq)...].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard rest.count == 1 || rest.count == 2 else {
            throw UsageError("--override '\(text)': expected one or two formats after '=' (weights[,acts])")
        }
        func setting(_ s: String) throws -> FormatSetting {
            if s == "-" || s.isEmpty { return .inherit }
            if s == "none" || s == "fp32" { return .fp32 }
            var c = base
            c.format = try MXFormat(parsing: s)
            return .mx(c)
        }
        return LayerOverride(pattern: pattern, weight: try setting(rest[0]), act: rest.count == 2 ? try setting(rest[1]) : .inherit)
    }
}

/// Glob match: `*` matches any (possibly empty) run of characters, `?` exactly one.
public func globMatch(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.utf8), t = Array(text.utf8)
    var pi = 0, ti = 0, star = -1, mark = 0
    while ti < t.count {
        if pi < p.count && (p[pi] == UInt8(ascii: "?") || p[pi] == t[ti]) {
            pi += 1; ti += 1
        } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
            star = pi; mark = ti; pi += 1
        } else if star >= 0 {
            pi = star + 1; mark += 1; ti = mark
        } else { return false }
    }
    while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == p.count
}

extension QuantPlan {
    /// Builds a plan from command-line style strings (shared by `mxq eval` and the experiment runner).
    /// - weights/acts: a format name (`mxint4`, `mxfp4`, …) or `none`/nil (fp32);
    /// - block, scaleRule (`floor`/`ceil`), rounding (`even`/`away`/`stochastic`, with `roundingSeed`) apply to both sides;
    /// - recipe: e.g. `smoothquant(alpha=0.5),awq,gptq` (nil: `rtn`);
    /// - overrides: `PATTERN=W[,A]` entries (see `parseOverride`), applied in order;
    /// - lmHead: quantize the LM head too (RTN).
    /// Throws a `UserFacingError` naming the offending value; also validates the recipe against the formats.
    public static func make(weights: String?, acts: String?, block: Int = 32, scaleRule: String? = nil,
                            rounding: String? = nil, roundingSeed: UInt64 = 0, recipe: String? = nil,
                            overrides: [String] = [], lmHead: Bool = false) throws -> QuantPlan {
        try MXConfig.checkBlock(block, what: "--block")
        let rule = try scaleRule.map { try MXScaleRule(parsing: $0) } ?? .floor
        let rnd = try rounding.map { try MXRounding(parsing: $0, seed: roundingSeed) } ?? .even
        func cfg(_ s: String?) throws -> MXConfig? {
            guard let s = s, s != "none", s != "fp32" else { return nil }
            return MXConfig(format: try MXFormat(parsing: s), block: block, scaleRule: rule, rounding: rnd)
        }
        let base = MXConfig(format: .mxint8, block: block, scaleRule: rule, rounding: rnd)
        let plan = QuantPlan(defaults: QuantSpec(weight: try cfg(weights), act: try cfg(acts)),
                             overrides: try overrides.map { try parseOverride($0, base: base) },
                             quantizeLMHead: lmHead,
                             recipe: try recipe.map { try Recipe.parse($0) } ?? .rtn)
        let anyW = plan.defaults.weight != nil || plan.overrides.contains { if case .mx = $0.weight { return true }; return false }
        let anyA = plan.defaults.act != nil || plan.overrides.contains { if case .mx = $0.act { return true }; return false }
        try plan.recipe.validate(weightsQuantized: anyW, actsQuantized: anyA)
        return plan
    }

    /// True when the plan leaves every linear fp32 and the recipe is plain RTN (nothing to do).
    public var isNoOp: Bool {
        let noFormats = defaults == .fp32 && overrides.allSatisfy {
            if case .mx = $0.weight { return false }
            if case .mx = $0.act { return false }
            return true
        }
        return noFormats && recipe.stages.allSatisfy { $0 == .rtn }
    }
}
