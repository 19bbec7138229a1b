import Foundation
import Support
import PTQ

/// `mxq eval`'s flags as what they are: a one-cell manifest. Parsing turns the flags into manifest
/// JSON and validates it with `Manifest.parse` (the one validator), reporting problems by flag
/// name; `evalCommandLine` goes the other way. Relative paths on the command line are taken from
/// the current directory and written absolute into the manifest.
public struct EvalInvocation {
    /// The one-cell manifest (its cell 0 is the cell to run; recipe `fp32` without quantization
    /// flags). `--print-cell` prints its `resolvedJSON()`.
    public var manifest: Manifest
    /// `--layers FILE.csv`: where to write the cell's layer records (the sweep's `layers.csv` format).
    public var layersCSV: String?
    public var json: Bool
    public var printCell: Bool
    /// `--max-blocks N` (memory/speed benchmarks only): run PTQ and the forward pass through the
    /// first N decoder blocks only. Not part of the cell: refused with `--json`, `--layers` and
    /// `--print-cell`, whose outputs would look like results of the model.
    public var maxBlocks: Int? = nil

    /// Flags that are part of the experiment, in `mxq help eval` order, with the manifest key
    /// each becomes (used to name flags in errors).
    static let flagForPath: [(prefix: String, flag: String)] = [
        ("model", "--model"), ("pre_tokenizer", "--pre"), ("cache", "--no-cache"), ("layers.heldout", "--heldout-file"),
        ("eval.datasets", "--dataset/--tokens-file"), ("eval.windows", "--windows"), ("eval.ctx", "--ctx"), ("eval.bos", "--bos"), ("eval.path", "--fake-quant"),
        ("calibration.dataset", "--calib-file"), ("calibration.n", "--calib-samples"), ("calibration.len", "--calib-len"),
        ("calibration.seed", "--calib-seed"),
        ("cells[0].weights", "--weights"), ("cells[0].acts", "--acts"), ("cells[0].block", "--block"),
        ("cells[0].scale_rule", "--scale-rule"), ("cells[0].rounding_seed", "--rounding-seed"), ("cells[0].rounding", "--rounding"),
        ("cells[0].overrides", "--override"), ("cells[0].lm_head", "--lm-head"), ("cells[0].packed", "--packed"),
        ("cells[0].recipe.name", "--recipe-name"), ("cells[0].recipe", "--recipe"), ("cells[0]", "the quantization flags"),
    ]

    /// Consumes `mxq eval`'s flags from `args` (the caller then calls `args.finish()`).
    public static func parse(_ args: inout Args) throws -> EvalInvocation {
        let cwd = FileManager.default.currentDirectoryPath
        func abs(_ p: String) -> String { p.hasPrefix("/") ? p : URL(fileURLWithPath: cwd).appendingPathComponent(p).standardized.path }
        let modelPath = try args.option("--model")
        let dataset = try args.option("--dataset"), tokensFile = try args.option("--tokens-file")
        let windows = try args.int("--windows"), ctx = try args.int("--ctx")
        let pre = try args.option("--pre")
        let bos = args.flag("--bos")
        let json = args.flag("--json"), printCell = args.flag("--print-cell")
        let maxBlocks = try args.int("--max-blocks")
        if let n = maxBlocks {
            guard n >= 1 else { throw UsageError("eval: --max-blocks must be at least 1, got \(n)") }
            for (given, flag) in [(json, "--json"), (printCell, "--print-cell")] where given {
                throw UsageError("eval: --max-blocks (a memory/speed benchmark that skips decoder blocks) cannot be combined with \(flag): its numbers are not the model's")
            }
        }
        let weights = try args.option("--weights"), acts = try args.option("--acts")
        let block = try args.int("--block"), rule = try args.option("--scale-rule")
        let rounding = try args.option("--rounding"), rseed = try args.int("--rounding-seed")
        let recipeText = try args.option("--recipe"), recipeName = try args.option("--recipe-name")
        let override = try args.option("--override"), sqAlpha = try args.option("--sq-alpha")
        let lmHead = args.flag("--lm-head")
        let samples = try args.int("--calib-samples"), len = try args.int("--calib-len")
        let cseed = try args.int("--calib-seed"), file = try args.option("--calib-file")
        let awqSearch = try args.int("--awq-search-tokens"), awqClip = try args.int("--awq-clip-tokens")
        let layers = try args.option("--layers")
        let heldoutFile = try args.option("--heldout-file"), noHeldout = args.flag("--no-heldout")
        let packed = args.flag("--packed"), noCache = args.flag("--no-cache")
        let fakeQuant = args.flag("--fake-quant")
        let notTrueSequential = args.flag("--no-true-sequential")

        if (dataset == nil) == (tokensFile == nil) {
            throw UsageError("eval: give exactly one of --dataset (wikitext2, ptb, or several joined by ',') and --tokens-file")
        }
        var top: [String: Any] = ["name": "eval"]
        if let m = modelPath { top["model"] = abs(m) }
        if let p = pre { top["pre_tokenizer"] = p }
        if noCache { top["cache"] = false }
        if noHeldout && heldoutFile != nil { throw UsageError("eval: give --heldout-file or --no-heldout, not both") }
        if let h = heldoutFile { top["layers"] = ["heldout": abs(h)] }
        if noHeldout { top["layers"] = ["heldout": "none"] }
        var ev: [String: Any] = [:]
        ev["datasets"] = dataset.map { $0.split(separator: ",").map { String($0) } } ?? [Manifest.tokensPrefix + abs(tokensFile!)]
        if let w = windows { ev["windows"] = w }
        ev["ctx"] = ctx ?? 2048
        if bos { ev["bos"] = true }
        if fakeQuant { ev["path"] = "fake-quant" }
        top["eval"] = ev

        let quantGiven = [weights, acts, rule, rounding, recipeText, recipeName, override, sqAlpha, file, layers].contains { $0 != nil }
            || [block, rseed, samples, len, cseed, awqSearch, awqClip].contains { $0 != nil }
            || lmHead || packed || notTrueSequential
        var cal: [String: Any] = ["n": samples ?? 128, "len": len ?? 2048]
        if let f = file { cal["dataset"] = abs(f) }
        if let s = cseed { cal["seed"] = s }
        top["calibration"] = cal
        var cell: [String: Any] = [:]
        if !quantGiven {
            cell["recipe"] = "fp32"
        } else {
            cell["weights"] = weights ?? "none"
            cell["acts"] = acts ?? "none"
            if let b = block { cell["block"] = b }
            if let r = rule { cell["scale_rule"] = r }
            if let r = rounding { cell["rounding"] = r }
            if let r = rseed { cell["rounding_seed"] = r }
            if let o = override { cell["overrides"] = o.split(separator: ";").map(String.init) }
            if lmHead { cell["lm_head"] = true }
            if packed { cell["packed"] = true }
            var stages = try parseRecipeFlag(recipeText ?? "rtn")
            func setParam(_ stage: String, _ key: String, _ value: Any, flag: String) throws {
                guard let i = stages.firstIndex(where: { ($0["stage"] as? String) == stage }) else {
                    throw UsageError("eval: \(flag) sets a parameter of \(stage), but --recipe '\(recipeText ?? "rtn")' has no \(stage) stage")
                }
                stages[i][key] = value
            }
            if let v = awqSearch { try setParam("awq", "search_tokens", v, flag: "--awq-search-tokens") }
            if let v = awqClip { try setParam("awq", "clip_tokens", v, flag: "--awq-clip-tokens") }
            if notTrueSequential { try setParam("gptq", "true_sequential", false, flag: "--no-true-sequential") }
            for (key, alpha) in try parseSQAlphaFlag(sqAlpha) { try setParam("smoothquant", key, alpha, flag: "--sq-alpha") }
            let name = recipeName ?? (stages.isEmpty ? "rtn" : stages.map { ($0["stage"] as! String) == "smoothquant" ? "sq" : $0["stage"] as! String }.joined(separator: "+"))
            cell["recipe"] = ["name": name, "stages": stages] as [String: Any]
        }
        top["cells"] = [cell]
        let data = try JSONSerialization.data(withJSONObject: top, options: [.sortedKeys])
        let manifest: Manifest
        do {
            manifest = try Manifest.parse(data, file: "(mxq eval flags)", defaultName: "eval")
        } catch let e as ManifestError {
            throw UsageError("eval: " + e.issues.map { issue in
                let flag = flagForPath.first { issue.path == $0.prefix || issue.path.hasPrefix($0.prefix + ".") || issue.path.hasPrefix($0.prefix + "[") }
                return "\(flag?.flag ?? issue.path): \(issue.message)"
            }.joined(separator: "; "))
        }
        if maxBlocks != nil && layers != nil {
            throw UsageError("eval: --max-blocks (a memory/speed benchmark that skips decoder blocks) cannot be combined with --layers: the table would cover only those blocks")
        }
        var inv = EvalInvocation(manifest: manifest, layersCSV: layers, json: json, printCell: printCell)
        inv.maxBlocks = maxBlocks
        return inv
    }

    /// `smoothquant(alpha=0.5),awq,gptq(act_order)` → manifest stage objects. Also accepts `+`, `->`
    /// and `→` as separators, `sq` for smoothquant, a bare number as SmoothQuant's alpha and
    /// `act_order` (`actorder`, `act-order`, `desc_act`) as GPTQ's flag; other arguments are
    /// `key=value` with the manifest's parameter names. `rtn` alone is plain RTN (no stages).
    static func parseRecipeFlag(_ text: String) throws -> [[String: Any]] {
        let items = PTQ.Recipe.stageItems(text)
        if items.count == 1 && items[0].trimmingCharacters(in: .whitespaces).lowercased() == "rtn" { return [] }
        var stages: [[String: Any]] = []
        for raw in items {
            let item = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if item.isEmpty { throw UsageError("eval: --recipe '\(text)': empty stage") }
            var name = item, argText = ""
            if let open = item.firstIndex(of: "(") {
                guard item.hasSuffix(")") else { throw UsageError("eval: --recipe '\(text)': unbalanced parentheses in '\(item)'") }
                name = String(item[..<open]).trimmingCharacters(in: .whitespaces)
                argText = String(item[item.index(after: open)..<item.index(before: item.endIndex)])
            }
            guard let spec = Catalog.stage(named: name) else {
                throw UsageError("eval: --recipe '\(text)': unknown stage '\(name)' (expected smoothquant (sq), awq, gptq, rtn)")
            }
            var o: [String: Any] = ["stage": spec.name]
            for a in argText.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !a.isEmpty {
                var key: String, value: String
                if let eq = a.firstIndex(of: "=") {
                    key = String(a[..<eq]).trimmingCharacters(in: .whitespaces)
                    value = String(a[a.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
                } else if spec.name == "smoothquant" {
                    key = "alpha"; value = a
                } else if spec.name == "gptq" && ["act_order", "actorder", "act-order", "desc_act"].contains(a) {
                    key = "act_order"; value = "true"
                } else {
                    throw UsageError("eval: --recipe '\(text)': \(spec.name) argument '\(a)' is not KEY=VALUE (keys: \(spec.params.map(\.name).joined(separator: ", ")))")
                }
                if key == "α" { key = "alpha" }
                if value == "true" || value == "false" { o[key] = value == "true" }
                else if let i = Int(value) { o[key] = i }
                else if let d = Double(value) { o[key] = d }
                else { o[key] = value }   // the manifest validator reports the type
            }
            stages.append(o)
        }
        return stages
    }

    /// `--sq-alpha q_proj=0.6,down_proj=0.3` → SmoothQuant's per-group parameters. q/k/v share one
    /// alpha (one producer), as do gate/up; giving two members different alphas is an error.
    static func parseSQAlphaFlag(_ text: String?) throws -> [(String, Double)] {
        guard let text = text else { return [] }
        let groups = ["q_proj": "alpha_qkv", "k_proj": "alpha_qkv", "v_proj": "alpha_qkv", "o_proj": "alpha_o",
                      "gate_proj": "alpha_gate_up", "up_proj": "alpha_gate_up", "down_proj": "alpha_down"]
        var out: [String: Double] = [:]
        var order: [String] = []
        for item in text.split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            let kind = kv.first.map { groups[$0] != nil ? $0 : $0 + "_proj" } ?? ""
            guard kv.count == 2, let key = groups[kind], let a = Double(kv[1]), a >= 0, a <= 1 else {
                throw UsageError("eval: --sq-alpha '\(item)': expected KIND=ALPHA with KIND one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj and ALPHA in [0, 1]")
            }
            if let old = out[key], old != a {
                throw UsageError("eval: --sq-alpha: \(kind) shares its SmoothQuant scales with its group (\(key)), which already has alpha \(old)")
            }
            if out[key] == nil { order.append(key) }
            out[key] = a
        }
        return order.map { ($0, out[$0]!) }
    }
}

/// Quotes a shell word when needed.
private func shellWord(_ s: String) -> String {
    if !s.isEmpty && s.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_./=:,+@%".unicodeScalars.contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Cell `i` of `m` as the equivalent `mxq eval` command line (`mxq sweep --dry-run --print-eval`).
public func evalCommandLine(_ m: Manifest, cell c: Cell) -> String {
    var a = ["mxq", "eval"]
    if m.model != Catalog.defaultModel { a += ["--model", Manifest.resolvePath(m.model).path] }
    if let p = m.preTokenizer { a += ["--pre", p] }
    let files = m.datasets.filter { $0.hasPrefix(Manifest.tokensPrefix) }
    if files.isEmpty { a += ["--dataset", m.datasets.joined(separator: ",")] }
    else { a += ["--tokens-file", Manifest.resolvePath(String(files[0].dropFirst(Manifest.tokensPrefix.count))).path] }
    if let w = m.windows { a += ["--windows", String(w)] }
    a += ["--ctx", String(m.ctx)]
    if m.bos { a.append("--bos") }
    if m.evalPath == "fake-quant" { a.append("--fake-quant") }
    if !m.cache { a.append("--no-cache") }
    if m.heldout == "none" { a.append("--no-heldout") } else if m.heldout != "calibration" { a += ["--heldout-file", Manifest.resolvePath(m.heldout).path] }
    if !c.recipe.isFP32 {
        let cal = m.calibration(of: c)
        a += ["--weights", c.weights ?? "none", "--acts", c.acts ?? "none", "--block", String(c.block),
              "--scale-rule", c.scaleRule, "--rounding", c.rounding]
        if let r = c.roundingSeed { a += ["--rounding-seed", String(r)] }
        a += ["--recipe", c.recipe.stages.isEmpty ? "rtn" : c.recipe.stages.map(\.description).joined(separator: ","),
              "--recipe-name", c.recipe.name]
        if !c.overrides.isEmpty { a += ["--override", c.overrides.joined(separator: ";")] }
        if c.lmHead { a.append("--lm-head") }
        if c.packed { a.append("--packed") }
        if cal.dataset != "ptb-train" { a += ["--calib-file", Manifest.resolvePath(cal.dataset).path] }
        a += ["--calib-samples", String(cal.n), "--calib-len", String(cal.len), "--calib-seed", String(c.seed)]
    }
    return a.map(shellWord).joined(separator: " ")
}

extension EvalInvocation {
    /// Runs the cell through `RealRunner` (as a sweep would) with progress on stderr, and returns
    /// its record (no fp32 baseline is computed: `fp32PPL` is empty unless the cell is fp32).
    public func run() throws -> CellRecord {
        let runner = try RealRunner(manifest: manifest)
        runner.recordsForRTN = layersCSV != nil
        runner.blockLimit = maxBlocks
        let cell = manifest.cells[0]
        let cost = CostModel()
        let progress = SweepProgress(cost: { [manifest] in cost.cellSeconds($0, manifest) })
        progress.begin(cells: [cell], baseline: cell.recipe.isFP32 ? cost.baselineSeconds(manifest) : 0)
        progress.startCell(cell, position: 1, of: 1)
        let t0 = monotonicSeconds()
        let res = try runner.runCell(cell, progress: progress)
        let wall = monotonicSeconds() - t0
        progress.finishCell()
        progress.endLine()
        let fp32 = cell.recipe.isFP32 ? Dictionary(uniqueKeysWithValues: res.evals.map { ($0.dataset, $0.ppl) }) : [:]
        let rec = makeRecord(manifest: manifest, index: 0, result: res, fp32: fp32, wall: wall,
                             provenance: try runner.provenance(), gitCommit: Environment.gitCommit())
        if let path = layersCSV {
            do { try LayersCSV.table([rec]).text.write(toFile: path, atomically: true, encoding: .utf8) }
            catch { throw UsageError("eval: cannot write --layers file '\(path)': \(error.localizedDescription)") }
        }
        return rec
    }
}
