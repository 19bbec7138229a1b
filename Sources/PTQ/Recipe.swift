import Support

/// One stage of a recipe.
public enum Stage: Hashable, Sendable, CustomStringConvertible {
    /// SmoothQuant with migration strength α (per layer kind overrides in `SmoothQuantOptions`).
    case smoothQuant(alpha: Float)
    /// AWQ scale search (20-point α grid) then per-block clipping search.
    case awq
    /// GPTQ rounding onto the MX grid (optionally in activation order).
    case gptq(actOrder: Bool)
    /// Round-to-nearest onto the MX grid (the format layer's rounding).
    case rtn

    public var name: String {
        switch self {
        case .smoothQuant: return "smoothquant"
        case .awq: return "awq"
        case .gptq: return "gptq"
        case .rtn: return "rtn"
        }
    }
    public var description: String {
        switch self {
        case .smoothQuant(let a): return "smoothquant(alpha=\(a))"
        case .awq: return "awq"
        case .gptq(let ao): return ao ? "gptq(act_order)" : "gptq"
        case .rtn: return "rtn"
        }
    }
    /// GPTQ, with or without act-order.
    public var isGPTQ: Bool { if case .gptq = self { return true }; return false }
    /// Stages that put the weights on the MX grid (the final rounding).
    public var isRounding: Bool { isGPTQ || self == .rtn }
}

/// An ordered list of stages. SmoothQuant and AWQ are fp32 transforms of the weights
/// (and of the RMSNorm / producer weights they fold into); GPTQ or RTN is the rounding.
/// A recipe without a rounding stage ends with an implicit RTN when weights are quantized.
///
/// Rejected as contradictory (with a message saying why):
/// - a stage that appears twice (the second run would see the first one's output and
///   measure nothing new; write two recipes to compare);
/// - both `rtn` and `gptq` (two different roundings of the same weights);
/// - a stage after the rounding stage (the weights are already on the MX grid; SmoothQuant
///   or AWQ scaling would move them off it again);
/// - weight-only stages (`awq`, `gptq`) when no layer quantizes weights (checked in `validate`);
/// - `smoothquant` when nothing is quantized at all (it would change nothing measurable).
public struct Recipe: Hashable, Sendable, CustomStringConvertible {
    public var stages: [Stage]
    public init(_ stages: [Stage]) { self.stages = stages }
    public static let rtn = Recipe([.rtn])

    public var description: String { stages.map(\.description).joined(separator: ",") }

    /// The stage items of a recipe text: separators `,` (outside parentheses), `+`, `->`, `→`.
    public static func stageItems(_ text: String) -> [String] {
        var cleaned = text.replacingOccurrences(of: "→", with: ",")
        cleaned = cleaned.replacingOccurrences(of: "->", with: ",").replacingOccurrences(of: "+", with: ",")
        var items: [String] = [], cur = "", depth = 0
        for ch in cleaned {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == "," && depth == 0 { items.append(cur); cur = "" } else { cur.append(ch) }
        }
        items.append(cur)
        return items
    }

    /// Parses `smoothquant(alpha=0.5),awq,gptq(act_order)` (also `sq`, `smoothquant(0.6)`,
    /// `gptq(actorder)`, `→`/`->`/`+` as separators). Checks order rules that do not need the formats.
    public static func parse(_ text: String) throws -> Recipe {
        let items = stageItems(text)
        var stages: [Stage] = []
        for raw in items {
            let item = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if item.isEmpty { throw UsageError("--recipe '\(text)': empty stage") }
            var name = item, argText = ""
            if let open = item.firstIndex(of: "(") {
                guard item.hasSuffix(")") else { throw UsageError("--recipe '\(text)': unbalanced parentheses in '\(item)'") }
                name = String(item[..<open])
                argText = String(item[item.index(after: open)..<item.index(before: item.endIndex)])
            }
            let args = argText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            switch name {
            case "smoothquant", "sq":
                var alpha: Float = 0.5
                for a in args {
                    let v = a.hasPrefix("alpha=") ? String(a.dropFirst(6)) : (a.hasPrefix("α=") ? String(a.dropFirst(2)) : a)
                    guard let f = Float(v), f >= 0, f <= 1 else {
                        throw UsageError("--recipe '\(text)': smoothquant alpha must be a number in [0, 1], got '\(a)'")
                    }
                    alpha = f
                }
                stages.append(.smoothQuant(alpha: alpha))
            case "awq":
                guard args.isEmpty else { throw UsageError("--recipe '\(text)': awq takes no arguments") }
                stages.append(.awq)
            case "gptq":
                var ao = false
                for a in args {
                    guard ["act_order", "actorder", "act-order", "desc_act"].contains(a) else {
                        throw UsageError("--recipe '\(text)': gptq accepts only 'act_order', got '\(a)'")
                    }
                    ao = true
                }
                stages.append(.gptq(actOrder: ao))
            case "rtn":
                guard args.isEmpty else { throw UsageError("--recipe '\(text)': rtn takes no arguments") }
                stages.append(.rtn)
            default:
                throw UsageError("--recipe '\(text)': unknown stage '\(name)' (expected smoothquant, awq, gptq, rtn)")
            }
        }
        let r = Recipe(stages)
        try r.checkOrder(source: text)
        return r
    }

    /// Order rules that hold whatever the formats.
    public func checkOrder(source: String? = nil) throws {
        let label = "recipe '\(source ?? description)'"
        var seen = Set<String>()
        for s in stages {
            if !seen.insert(s.name).inserted {
                throw UsageError("\(label): stage '\(s.name)' appears twice; a stage run again on its own output measures nothing new (compare two recipes instead)")
            }
        }
        if seen.contains("rtn") && seen.contains("gptq") {
            throw UsageError("\(label): 'rtn' and 'gptq' are both roundings of the same weights; use one")
        }
        if let i = stages.firstIndex(where: { $0.isRounding }), i != stages.count - 1 {
            throw UsageError("\(label): '\(stages[i].name)' must be the last stage: after it the weights are on the MX grid and '\(stages[i + 1].name)' would move them off it")
        }
    }

    /// Checks the recipe against what the plan quantizes.
    public func validate(weightsQuantized: Bool, actsQuantized: Bool) throws {
        try checkOrder()
        for s in stages {
            switch s {
            case .awq, .gptq:
                if !weightsQuantized {
                    throw UsageError("recipe '\(description)': '\(s.name)' optimizes weight rounding but no layer quantizes weights (--weights none)")
                }
            case .smoothQuant:
                if !weightsQuantized && !actsQuantized {
                    throw UsageError("recipe '\(description)': 'smoothquant' migrates quantization difficulty between weights and activations but neither is quantized")
                }
            case .rtn: break
            }
        }
    }

    /// The stages actually run: the recipe, plus a trailing RTN when it has no rounding stage.
    public var effectiveStages: [Stage] {
        stages.contains(where: { $0.isRounding }) ? stages : stages + [.rtn]
    }
}

import Foundation
