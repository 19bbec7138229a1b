import Foundation
import PTQ
import Support

// Hand-written inline SVG charts of report.html (no scripts, fonts or network). Element
// classes the browser check looks for: `mxq-chart` on every chart, `ppl-chart`,
// `ppl-point`, `ppl-errbar` (accuracy), `sqnr-heatmap`, `heat-cell` (per-layer heat maps).

let seriesColors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

func fmt1(_ x: Double) -> String { String(format: "%.1f", x) }

/// Dot plot of one dataset's perplexities: one row per recipe, one coloured marker per
/// format configuration with its 95 % CI as an error bar; the fp32 PPL as a dashed line
/// with its CI as a grey band. `id` must be unique in the page.
public func pplChartSVG(_ tab: AccuracyTable, id: String) -> String {
    let entries = tab.rows.flatMap { $0.values.compactMap { $0 } }
    var xs = entries.flatMap { e in [e.ppl, e.pplCI?.lo, e.pplCI?.hi].compactMap { $0 } }
    if let f = tab.fp32 { xs.append(f) }
    if let c = tab.fp32CI { xs += [c.lo, c.hi] }
    xs = xs.filter(\.isFinite)
    var lo = xs.min() ?? 0, hi = xs.max() ?? 1
    if hi - lo < 1e-9 { lo -= 1; hi += 1 }
    let step = niceStep((hi - lo) / 6)
    lo = (lo / step).rounded(.down) * step; hi = (hi / step).rounded(.up) * step
    let nc = max(tab.columns.count, 1)
    let rowH = max(26.0, 12.0 * Double(nc) + 10)
    let l = 130.0, r = 290.0, t = 34.0, b = 44.0, w = 1000.0
    let pw = w - l - r, ph = rowH * Double(max(tab.rows.count, 1))
    let h = t + ph + b
    func x(_ v: Double) -> Double { l + pw * (v - lo) / (hi - lo) }
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"mxq-chart ppl-chart\" id=\"\(xmlEscape(id))\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\" font-size=\"11\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    let hasCI = entries.contains { $0.pplCI != nil } || tab.fp32CI != nil
    s += "<text x=\"\(Int(l))\" y=\"18\" font-size=\"13\">Perplexity on \(xmlEscape(tab.dataset))\(hasCI ? " with 95% CI" : " (no per-window NLLs: no CI)") (lower is better)</text>\n"
    var v = lo
    while v <= hi + step / 2 {
        let xx = fmt1(x(v))
        s += "<line x1=\"\(xx)\" y1=\"\(Int(t))\" x2=\"\(xx)\" y2=\"\(Int(t + ph))\" stroke=\"#e4e4e4\"/>"
        s += "<text x=\"\(xx)\" y=\"\(Int(t + ph + 16))\" text-anchor=\"middle\">\(fmtNumber((v * 100).rounded() / 100))</text>\n"
        v += step
    }
    s += "<text x=\"\(Int(l + pw / 2))\" y=\"\(Int(h - 8))\" text-anchor=\"middle\">perplexity</text>\n"
    if let c = tab.fp32CI, c.lo.isFinite, c.hi.isFinite {
        s += "<rect class=\"fp32-band\" x=\"\(fmt1(x(c.lo)))\" y=\"\(Int(t))\" width=\"\(fmt1(max(x(c.hi) - x(c.lo), 0.5)))\" height=\"\(Int(ph))\" fill=\"#000\" fill-opacity=\"0.08\"/>\n"
    }
    if let f = tab.fp32, f.isFinite {
        s += "<line class=\"fp32-line\" x1=\"\(fmt1(x(f)))\" y1=\"\(Int(t))\" x2=\"\(fmt1(x(f)))\" y2=\"\(Int(t + ph))\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>"
        s += "<text x=\"\(fmt1(x(f)))\" y=\"\(Int(t - 4))\" text-anchor=\"middle\" fill=\"#555\">fp32 \(f2(f))</text>\n"
    }
    for (ri, row) in tab.rows.enumerated() {
        let y0 = t + rowH * Double(ri)
        if ri % 2 == 1 { s += "<rect x=\"\(Int(l))\" y=\"\(fmt1(y0))\" width=\"\(Int(pw))\" height=\"\(fmt1(rowH))\" fill=\"#000\" fill-opacity=\"0.025\"/>\n" }
        s += "<text x=\"\(Int(l - 8))\" y=\"\(fmt1(y0 + rowH / 2))\" text-anchor=\"end\" dominant-baseline=\"middle\">\(xmlEscape(row.recipe))</text>\n"
        for (k, e) in row.values.enumerated() {
            guard let e = e, e.ppl.isFinite else { continue }
            let c = seriesColors[k % seriesColors.count]
            let yv = y0 + rowH * Double(k + 1) / Double(nc + 1)
            let yy = fmt1(yv), ya = fmt1(yv - 4), yb = fmt1(yv + 4)
            var tip = "\(row.recipe) · \(tab.columns[k]): \(f2(e.ppl))"
            if let ci = e.pplCI {
                tip += " [\(f2(ci.lo)), \(f2(ci.hi))]"
                let a = fmt1(x(ci.lo)), bb = fmt1(x(ci.hi))
                s += "<g class=\"ppl-errbar\" stroke=\"\(c)\" stroke-width=\"1.5\"><line x1=\"\(a)\" y1=\"\(yy)\" x2=\"\(bb)\" y2=\"\(yy)\"/>"
                s += "<line x1=\"\(a)\" y1=\"\(ya)\" x2=\"\(a)\" y2=\"\(yb)\"/><line x1=\"\(bb)\" y1=\"\(ya)\" x2=\"\(bb)\" y2=\"\(yb)\"/></g>"
            }
            if e.stats.n > 1 { tip += " · \(e.stats.n) seeds" }
            if let vs = e.versus { tip += " · " + verdictPhrase(vs.verdict, tab.reference) }
            s += "<circle class=\"ppl-point\" cx=\"\(fmt1(x(e.ppl)))\" cy=\"\(yy)\" r=\"4\" fill=\"\(c)\"><title>\(xmlEscape(tip))</title></circle>\n"
        }
    }
    s += "<rect x=\"\(Int(l))\" y=\"\(Int(t))\" width=\"\(Int(pw))\" height=\"\(Int(ph))\" fill=\"none\" stroke=\"#333\"/>\n"
    for (k, label) in tab.columns.enumerated() {
        let ly = t + 10 + Double(k) * 18
        let c = seriesColors[k % seriesColors.count]
        s += "<circle cx=\"\(Int(l + pw + 20))\" cy=\"\(fmt1(ly))\" r=\"4\" fill=\"\(c)\"/><line x1=\"\(Int(l + pw + 12))\" y1=\"\(fmt1(ly))\" x2=\"\(Int(l + pw + 28))\" y2=\"\(fmt1(ly))\" stroke=\"\(c)\" stroke-width=\"1.5\"/>"
        s += "<text x=\"\(Int(l + pw + 34))\" y=\"\(fmt1(ly))\" dominant-baseline=\"middle\">\(xmlEscape(label))</text>\n"
    }
    s += "</svg>\n"
    return s
}

// MARK: - Per-layer heat maps

/// A per-layer value grid: rows = decoder blocks (model order), columns = linear kinds
/// (q, k, v, o, gate, up, down, then any others in order of appearance).
public struct LayerGrid: Sendable, Equatable {
    public var blocks: [String]
    public var kinds: [String]
    /// [block][kind]; nil where there is no such layer or no value.
    public var values: [[Double?]]
}

let canonicalKinds = ["q", "k", "v", "o", "gate", "up", "down"]

/// ("12", "down") for "layers.12.mlp.down_proj"; nil for names outside decoder blocks.
func blockAndKind(_ name: String) -> (String, String)? {
    let p = name.split(separator: ".")
    guard p.count >= 3, p[0] == "layers", Int(p[1]) != nil else { return nil }
    var k = String(p[p.count - 1])
    if k.hasSuffix("_proj") { k = String(k.dropLast(5)) }
    return (String(p[1]), k)
}

/// A value of the record of the last stage that touched each layer (default: output SQNR in dB
/// on calibration inputs; pass e.g. a held-out column's accessor for the held-out panel), as a
/// block × kind grid (nil when no layer name has the `layers.N.….kind` form).
public func layerGrid(_ e: LayerErrors, value: (LayerRecord) -> Double? = { $0.outputSQNR }) -> LayerGrid? {
    var blocks: [String] = [], kinds: [String] = []
    var vals: [String: Double] = [:]
    for (i, name) in e.layers.enumerated() {
        guard let (b, k) = blockAndKind(name) else { continue }
        if !blocks.contains(b) { blocks.append(b) }
        if !kinds.contains(k) { kinds.append(k) }
        if let last = e.records[i].last(where: { $0 != nil }) ?? nil, let v = value(last) { vals[b + "|" + k] = v }
    }
    if blocks.isEmpty { return nil }
    blocks.sort { Int($0)! < Int($1)! }
    kinds = canonicalKinds.filter(kinds.contains) + kinds.filter { !canonicalKinds.contains($0) }
    return LayerGrid(blocks: blocks, kinds: kinds, values: blocks.map { b in kinds.map { vals[b + "|" + $0] } })
}

/// `a − b` on the layers both grids have (the layout of `a`).
public func gridDifference(_ a: LayerGrid, _ b: LayerGrid) -> LayerGrid {
    var bv: [String: Double] = [:]
    for (i, blk) in b.blocks.enumerated() { for (j, k) in b.kinds.enumerated() { if let v = b.values[i][j] { bv[blk + "|" + k] = v } } }
    return LayerGrid(blocks: a.blocks, kinds: a.kinds, values: a.blocks.enumerated().map { i, blk in
        a.kinds.enumerated().map { j, k in
            guard let x = a.values[i][j], let y = bv[blk + "|" + k] else { return nil }
            return x - y
        }
    })
}

/// Finite values of grids (for a shared colour range).
func finiteValues(_ gs: [LayerGrid?]) -> [Double] {
    gs.compactMap { $0 }.flatMap { $0.values.flatMap { $0.compactMap { $0 } } }.filter(\.isFinite)
}

/// Colour of `v` on a scale: sequential (viridis-like, low = dark) over [lo, hi], or diverging
/// (red below 0 = worse, white at 0, blue above = better) over [−hi, hi].
func heatColor(_ v: Double, lo: Double, hi: Double, diverging: Bool) -> String {
    func mix(_ stops: [(Double, Double, Double)], _ u: Double) -> String {
        let u = min(max(u, 0), 1) * Double(stops.count - 1)
        let i = min(Int(u), stops.count - 2), f = u - Double(i)
        let a = stops[i], b = stops[i + 1]
        return String(format: "#%02x%02x%02x", Int((a.0 + f * (b.0 - a.0)).rounded()), Int((a.1 + f * (b.1 - a.1)).rounded()), Int((a.2 + f * (b.2 - a.2)).rounded()))
    }
    if !v.isFinite { return v > 0 ? "#fde725" : "#000000" }
    if diverging {
        let m = max(abs(lo), abs(hi), 1e-9)
        return mix([(178, 24, 43), (239, 138, 98), (247, 247, 247), (103, 169, 207), (33, 102, 172)], (v / m + 1) / 2)
    }
    return mix([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], hi > lo ? (v - lo) / (hi - lo) : 0.5)
}

/// One heat map SVG with one or more panels side by side (e.g. calibration | held-out), a
/// shared colour scale and a colour bar. `range` is the value range of the scale (diverging:
/// symmetric around 0 from the larger magnitude). Every cell has a tooltip with its value.
public func heatmapSVG(id: String, title: String, panels: [(title: String, grid: LayerGrid)], range: (lo: Double, hi: Double),
                       diverging: Bool, unit: String = "dB") -> String {
    let cw = 22.0, ch = 12.0, lab = 26.0, gap = 30.0, t = 46.0
    let rows = panels.map { $0.grid.blocks.count }.max() ?? 0
    let pws = panels.map { Double($0.grid.kinds.count) * cw }
    let w = max(lab + pws.reduce(0, +) + gap * Double(max(panels.count - 1, 0)) + lab + 10, 230)
    let h = t + Double(rows) * ch + 56
    let (lo, hi) = diverging ? (-max(abs(range.lo), abs(range.hi)), max(abs(range.lo), abs(range.hi))) : range
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"mxq-chart sqnr-heatmap\(diverging ? " diff" : "")\" id=\"\(xmlEscape(id))\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\" font-size=\"10\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    s += "<text x=\"4\" y=\"14\" font-size=\"12\">\(xmlEscape(title))</text>\n"
    var x0 = lab
    for (pi, p) in panels.enumerated() {
        let g = p.grid
        s += "<text x=\"\(fmt1(x0))\" y=\"30\" font-size=\"11\">\(xmlEscape(p.title))</text>\n"
        for (j, k) in g.kinds.enumerated() {
            s += "<text x=\"\(fmt1(x0 + cw * (Double(j) + 0.5)))\" y=\"\(Int(t - 4))\" text-anchor=\"middle\">\(xmlEscape(k))</text>"
        }
        s += "\n"
        let every = g.blocks.count > 40 ? 5 : (g.blocks.count > 20 ? 2 : 1)
        for (i, blk) in g.blocks.enumerated() {
            let y = t + ch * Double(i)
            if pi == 0 && i % every == 0 {
                s += "<text x=\"\(fmt1(x0 - 4))\" y=\"\(fmt1(y + ch / 2))\" text-anchor=\"end\" dominant-baseline=\"middle\">\(xmlEscape(blk))</text>"
            }
            for (j, k) in g.kinds.enumerated() {
                let xx = fmt1(x0 + cw * Double(j)), yy = fmt1(y)
                if let v = g.values[i][j] {
                    let tip = "block \(blk) \(k): " + (v.isFinite ? String(format: diverging ? "%+.2f" : "%.2f", v) : db(v)) + " \(unit)"
                    s += "<rect class=\"heat-cell\" x=\"\(xx)\" y=\"\(yy)\" width=\"\(Int(cw))\" height=\"\(Int(ch))\" fill=\"\(heatColor(v, lo: lo, hi: hi, diverging: diverging))\" stroke=\"white\" stroke-width=\"0.5\"><title>\(xmlEscape(tip))</title></rect>"
                } else {
                    s += "<rect x=\"\(xx)\" y=\"\(yy)\" width=\"\(Int(cw))\" height=\"\(Int(ch))\" fill=\"#eee\" stroke=\"white\" stroke-width=\"0.5\"/>"
                }
            }
            s += "\n"
        }
        x0 += pws[pi] + gap
    }
    s += "<text x=\"4\" y=\"\(Int(t + Double(rows) * ch + 14))\">block ↓</text>\n"
    // colour bar: 20 steps from lo to hi
    let by = t + Double(rows) * ch + 22, bw = min(w - 70, 200.0), bx = 30.0
    for k in 0..<20 {
        let v = lo + (hi - lo) * (Double(k) + 0.5) / 20
        s += "<rect x=\"\(fmt1(bx + bw * Double(k) / 20))\" y=\"\(fmt1(by))\" width=\"\(fmt1(bw / 20 + 0.3))\" height=\"9\" fill=\"\(heatColor(v, lo: lo, hi: hi, diverging: diverging))\"/>"
    }
    let fmtv = { (v: Double) in String(format: diverging ? "%+.1f" : "%.1f", v) }
    s += "\n<text x=\"\(fmt1(bx))\" y=\"\(fmt1(by + 21))\" text-anchor=\"middle\">≤\(fmtv(lo))</text>"
    s += "<text x=\"\(fmt1(bx + bw))\" y=\"\(fmt1(by + 21))\" text-anchor=\"middle\">≥\(fmtv(hi))</text>"
    s += "<text x=\"\(fmt1(bx + bw / 2))\" y=\"\(fmt1(by + 21))\" text-anchor=\"middle\">\(diverging ? "0 \(unit)" : unit)</text>\n"
    s += "</svg>\n"
    return s
}

/// The heat maps of one cell: output SQNR per layer and, when `rtn` is given, its difference
/// to RTN of the same configuration (positive = better than RTN); calibration inputs, and
/// held-out inputs side by side when `heldout` (and `rtnHeldout`) are given.
/// `sqnrRange` and `diffRange` are shared by every cell of the report so colours compare.
public func cellHeatmapsSVG(cellID: String, calibration: LayerGrid, heldout: LayerGrid? = nil,
                            rtn: LayerGrid? = nil, rtnHeldout: LayerGrid? = nil,
                            sqnrRange: (lo: Double, hi: Double), diffRange: (lo: Double, hi: Double)) -> String {
    let safe = fileSafe(cellID)
    var sq: [(title: String, grid: LayerGrid)] = [("calibration inputs", calibration)]
    if let h = heldout { sq.append(("held-out inputs", h)) }
    var s = heatmapSVG(id: "heat-\(safe)", title: "Output SQNR (dB)", panels: sq, range: sqnrRange, diverging: false)
    if let r = rtn {
        var d: [(title: String, grid: LayerGrid)] = [("calibration inputs", gridDifference(calibration, r))]
        if let h = heldout, let rh = rtnHeldout { d.append(("held-out inputs", gridDifference(h, rh))) }
        s += heatmapSVG(id: "heatdiff-\(safe)", title: "Δ output SQNR vs RTN (dB; blue = better)", panels: d, range: diffRange, diverging: true)
    }
    return s
}
