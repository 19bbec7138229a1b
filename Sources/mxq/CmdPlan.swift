import Foundation
import Support
import Experiments
import PTQ

enum PlanCommand: Command {
    static let name = "plan"
    static let summary = "per-layer weight formats under an average-bits budget (sensitivity → exact allocation)"
    static let help = """
    mxq plan — mixed precision under a bit budget

    usage: mxq plan --budget BITS[,BITS...] --formats F1,F2[,...] [--predictor measured|kl|proxy]
                    [--probe-tokens N] [--out DIR] [the experiment flags of mxq eval: --model, --acts,
                    --block, --scale-rule, --rounding, --recipe, --calib-*, --dataset, --windows, --ctx, ...]

    Measures, for every linear layer of the decoder blocks and every candidate weight format, the
    increase of NLL when that layer alone is quantized under the recipe (the rest fp32), on the
    first N calibration tokens (--probe-tokens, default 1024), and the linearity-theorem proxy (the
    layer's relative weight error times a per-layer weight measured once with Gaussian weight
    noise). Both are cached in .cache/sensitivity/. Then chooses one format per layer minimizing the
    summed predicted ΔNLL (default: the measured one) subject to the parameter-weighted average
    storage (element bits + 8/block) ≤ BITS, exactly (dynamic programming on an integer grid).
    The LM head and embeddings are not part of the budget (they stay as the cell says).

    Writes DIR (default results/plan/<UTC time>/): sensitivity.csv, and per budget plan-<BITS>.md
    (formats per block and layer type) and plan-<BITS>.json, a one-cell manifest with the plan as
    per-layer overrides (run it with mxq sweep). In a manifest, grid.budgets does all of this per cell.
    """

    static func run(_ args: inout Args) throws {
        guard let budgetText = try args.option("--budget") else { throw UsageError("plan: --budget BITS is required (e.g. 4.5 or 4.5,5,6)") }
        guard let formatText = try args.option("--formats") else { throw UsageError("plan: --formats F1,F2,... is required (candidate weight formats)") }
        let predictor = try args.option("--predictor") ?? "measured"
        let probe = try args.int("--probe-tokens")
        let out = try args.option("--out")
        let budgets = try budgetText.split(separator: ",").map { t -> Double in
            guard let b = Double(t), b >= 1, b <= 32 else { throw UsageError("plan: --budget '\(t)': expected bits per weight in [1, 32]") }
            return b
        }
        if args.items.contains("--weights") { throw UsageError("plan: --weights is chosen per layer by the plan; give the candidates with --formats") }
        var items = args.items
        if !items.contains("--dataset") && !items.contains("--tokens-file") { items += ["--dataset", "wikitext2"] }
        let formats = formatText.split(separator: ",").map(String.init)
        var evalArgs = Args(command: "plan", items + ["--weights", formats.first ?? "none"])
        let inv = try EvalInvocation.parse(&evalArgs)
        try evalArgs.finish()
        args = Args(command: "plan", [])
        var m = inv.manifest
        if !LayerSensitivity.predictors.contains(predictor) { throw UsageError("plan: --predictor must be measured, kl or proxy, got '\(predictor)'") }
        m.planPredictor = predictor
        if let p = probe {
            guard p >= 16 else { throw UsageError("plan: --probe-tokens must be at least 16, got \(p)") }
            m.planProbeTokens = p
        }
        let c = m.cells[0]
        let canonical = try formats.map { f -> String in
            guard let n = Catalog.canonicalFormat(f) else { throw UsageError("plan: --formats '\(f)': allowed \(Catalog.formatChoices)") }
            return n
        }
        guard Set(canonical).count == canonical.count, canonical.count >= 2 else { throw UsageError("plan: --formats needs at least two distinct formats") }
        let cell = Cell(weights: canonical[0], acts: c.acts, block: c.block, scaleRule: c.scaleRule, rounding: c.rounding, recipe: c.recipe,
                        seed: c.seed, roundingSeed: c.roundingSeed, overrides: c.overrides, lmHead: c.lmHead, packed: c.packed,
                        budget: budgets[0], planFormats: canonical)
        m.cells = [cell]
        let runner = try RealRunner(manifest: m)
        let table = try runner.sensitivity(for: cell)
        let dir = try out.map { URL(fileURLWithPath: $0) }
            ?? makeUniqueFolder(Paths.root.appendingPathComponent("results").appendingPathComponent("plan"), leaf: Experiments.Environment.utcTimestamp())
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try writeDurably(Data(sensitivityCSV(table).text.utf8), to: dir.appendingPathComponent("sensitivity.csv"))
        for b in budgets {
            guard let info = choosePlan(table, formats: canonical, budget: b, predictor: predictor) else {
                print("budget \(fmtBits(b)): no plan fits (the smallest format needs \(fmtBits(table.map(\.bits).min() ?? 0)) bits)")
                continue
            }
            let md = planMarkdown(info)
            print("## budget \(fmtBits(b))\n\n" + md)
            try writeDurably(Data(md.utf8), to: dir.appendingPathComponent("plan-\(fmtBits(b)).md"))
            var pm = m
            pm.name = "plan-\(fmtBits(b))"
            pm.cells = [Cell(weights: canonical[0], acts: c.acts, block: c.block, scaleRule: c.scaleRule, rounding: c.rounding,
                             recipe: c.recipe, seed: c.seed, roundingSeed: c.roundingSeed, overrides: info.overrides + c.overrides,
                             lmHead: c.lmHead, packed: c.packed)]
            try writeDurably(pm.resolvedJSON(), to: dir.appendingPathComponent("plan-\(fmtBits(b)).json"))
        }
        printErr("plan: sensitivity.csv and plans in \(dir.path)")
    }

    static func fmtBits(_ b: Double) -> String { b == b.rounded() ? String(Int(b)) : String(b) }
}
