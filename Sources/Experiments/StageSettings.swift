import Foundation
import PTQ
import Runtime

/// SmoothQuant's migration strength, with optional per-consumer overrides.
public struct SmoothQuantSettings: Hashable, Sendable {
    public var alpha: Double
    /// Per input group: q/k/v (producer: input RMSNorm), o_proj (producer: v_proj), gate/up
    /// (producer: post-attention RMSNorm), down_proj (producer: up_proj); nil inherits `alpha`.
    public var alphaQKV: Double?, alphaO: Double?, alphaGateUp: Double?, alphaDown: Double?
    public init(alpha: Double = 0.5, alphaQKV: Double? = nil, alphaO: Double? = nil, alphaGateUp: Double? = nil, alphaDown: Double? = nil) {
        self.alpha = alpha; self.alphaQKV = alphaQKV; self.alphaO = alphaO; self.alphaGateUp = alphaGateUp; self.alphaDown = alphaDown
    }
}

/// AWQ's search settings (see `Catalog.stages` for meanings and ranges).
public struct AWQSettings: Hashable, Sendable {
    public var grid: Int, maxShrink: Double, searchTokens: Int, clipTokens: Int
}

/// GPTQ's settings (see `Catalog.stages`).
public struct GPTQSettings: Hashable, Sendable {
    public var actOrder: Bool, damp: Double, blockSize: Int, trueSequential: Bool
}

/// A PTQ stage with its typed parameters.
public enum StageSettings: Hashable, Sendable {
    case smoothQuant(SmoothQuantSettings)
    case awq(AWQSettings)
    case gptq(GPTQSettings)
    case rtn

    public var name: String {
        switch self {
        case .smoothQuant: return "smoothquant"
        case .awq: return "awq"
        case .gptq: return "gptq"
        case .rtn: return "rtn"
        }
    }

    /// Set parameter values by catalog name (unset optional ones left out).
    var paramValues: [(String, ParamValue)] {
        switch self {
        case .smoothQuant(let s):
            var out: [(String, ParamValue)] = [("alpha", .number(s.alpha))]
            for (k, v) in [("alpha_qkv", s.alphaQKV), ("alpha_o", s.alphaO), ("alpha_gate_up", s.alphaGateUp), ("alpha_down", s.alphaDown)] {
                if let v = v { out.append((k, .number(v))) }
            }
            return out
        case .awq(let a):
            return [("grid", .integer(a.grid)), ("max_shrink", .number(a.maxShrink)),
                    ("search_tokens", .integer(a.searchTokens)), ("clip_tokens", .integer(a.clipTokens))]
        case .gptq(let g):
            return [("act_order", .bool(g.actOrder)), ("damp", .number(g.damp)), ("block_size", .integer(g.blockSize)),
                    ("true_sequential", .bool(g.trueSequential))]
        case .rtn:
            return []
        }
    }
}

extension CellRecipe {
    /// The PTQ pipeline's recipe and options for these stages (the one mapping from a described
    /// recipe to what `PTQ.quantize` runs; `mxq eval` and `mxq sweep` both go through it).
    public var ptq: (recipe: PTQ.Recipe, options: PTQOptions) {
        var o = PTQOptions()
        var stages: [PTQ.Stage] = []
        for st in self.stages {
            switch st.settings {
            case .smoothQuant(let s):
                stages.append(.smoothQuant(alpha: Float(s.alpha)))
                if let a = s.alphaQKV { o.smoothAlpha[.q] = Float(a) }
                if let a = s.alphaO { o.smoothAlpha[.o] = Float(a) }
                if let a = s.alphaGateUp { o.smoothAlpha[.gate] = Float(a) }
                if let a = s.alphaDown { o.smoothAlpha[.down] = Float(a) }
            case .awq(let a):
                o.awq.gridPoints = a.grid
                o.awq.maxShrink = a.maxShrink
                o.awq.searchTokens = a.searchTokens
                o.awq.clipTokens = a.clipTokens
                // the search subsamples the pipeline's per-layer sample: keep at least that many
                o.recordTokens = max(o.recordTokens, a.searchTokens)
                stages.append(.awq)
            case .gptq(let g):
                o.gptq.percDamp = g.damp
                o.gptq.blockSize = g.blockSize
                o.gptq.trueSequential = g.trueSequential
                o.gptq.actOrder = g.actOrder
                stages.append(.gptq(actOrder: g.actOrder))
            case .rtn:
                stages.append(.rtn)
            }
        }
        return (PTQ.Recipe(stages), o)
    }
}
