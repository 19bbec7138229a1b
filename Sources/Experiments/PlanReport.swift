import Foundation
import Support

/// One quantized cell of a results folder on one dataset, as the bits-vs-perplexity chart draws it.
struct BitsPoint {
    var cellID: String, recipe: String, weights: String, acts: String
    var bits: Double, ppl: Double, lo: Double?, hi: Double?
    var isPlan: Bool { weights == "plan" }
}

/// The points of `data` per dataset (quantized cells only).
func bitsPoints(_ data: ReportData) throws -> [(dataset: String, points: [BitsPoint])] {
    let t = data.table, f = data.file
    let cID = try t.require("cell_id", file: f), cR = try t.require("recipe", file: f), cW = try t.require("weights", file: f)
    let cA = try t.require("acts", file: f), cB = try t.require("weight_bits", file: f), cP = try t.require("ppl", file: f)
    let cD = try t.require("dataset", file: f)
    let cLo = t.column("ppl_lo"), cHi = t.column("ppl_hi")
    var order: [String] = []
    var by: [String: [BitsPoint]] = [:]
    for r in t.rows where r[cR] != "fp32" {
        guard let b = Double(r[cB]), let p = Double(r[cP]) else { continue }
        if by[r[cD]] == nil { order.append(r[cD]) }
        by[r[cD], default: []].append(BitsPoint(cellID: r[cID], recipe: r[cR], weights: r[cW], acts: r[cA], bits: b, ppl: p,
                                                lo: cLo.flatMap { Double(r[$0]) }, hi: cHi.flatMap { Double(r[$0]) }))
    }
    return order.map { ($0, by[$0]!) }
}

/// Indices of the Pareto front (no other point has fewer or equal bits and lower or equal PPL, one strictly).
func paretoFront(_ pts: [BitsPoint]) -> [Int] {
    pts.indices.filter { i in
        !pts.indices.contains { j in j != i && pts[j].bits <= pts[i].bits && pts[j].ppl <= pts[i].ppl
            && (pts[j].bits < pts[i].bits || pts[j].ppl < pts[i].ppl) }
    }.sorted { pts[$0].bits < pts[$1].bits }
}

/// PPL against average weight bits for one dataset: uniform formats as circles (labelled), plans as
/// diamonds, 95% CIs as vertical bars, the Pareto front as a line. Inline SVG, no script.
func bitsChartSVG(dataset: String, points pts: [BitsPoint], fp32: Double?, id: String) -> String {
    let w = 760.0, h = 420.0, l = 64.0, r = 30.0, t = 34.0, b = 50.0
    let pw = w - l - r, ph = h - t - b
    var xs = pts.map(\.bits), ys = pts.flatMap { [$0.ppl, $0.lo, $0.hi].compactMap { $0 } }
    if let f = fp32 { ys.append(f) }
    xs = xs.filter(\.isFinite); ys = ys.filter(\.isFinite)
    var x0 = (xs.min() ?? 4) - 0.25, x1 = (xs.max() ?? 8) + 0.25
    var y0 = ys.min() ?? 0, y1 = ys.max() ?? 1
    if y1 - y0 < 1e-9 { y0 -= 1; y1 += 1 }
    let ys_ = niceStep((y1 - y0) / 6); y0 = (y0 / ys_).rounded(.down) * ys_; y1 = (y1 / ys_).rounded(.up) * ys_
    if x1 - x0 < 1 { x0 -= 0.5; x1 += 0.5 }
    func X(_ v: Double) -> Double { l + pw * (v - x0) / (x1 - x0) }
    func Y(_ v: Double) -> Double { t + ph * (1 - (v - y0) / (y1 - y0)) }
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"mxq-chart bits-chart\" id=\"\(xmlEscape(id))\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\" font-size=\"11\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    s += "<text x=\"\(Int(l))\" y=\"18\" font-size=\"13\">Perplexity vs average weight bits on \(xmlEscape(dataset)) (plans ◆, uniform formats ●, Pareto front —)</text>\n"
    var v = y0
    while v <= y1 + ys_ / 2 {
        s += "<line x1=\"\(Int(l))\" y1=\"\(fmt1(Y(v)))\" x2=\"\(Int(l + pw))\" y2=\"\(fmt1(Y(v)))\" stroke=\"#e4e4e4\"/>"
        s += "<text x=\"\(Int(l - 6))\" y=\"\(fmt1(Y(v)))\" text-anchor=\"end\" dominant-baseline=\"middle\">\(fmtNumber((v * 100).rounded() / 100))</text>\n"
        v += ys_
    }
    var bx = (x0 * 2).rounded(.up) / 2
    while bx <= x1 {
        s += "<text x=\"\(fmt1(X(bx)))\" y=\"\(Int(t + ph + 16))\" text-anchor=\"middle\">\(fmtNumber(bx))</text>\n"
        bx += 0.5
    }
    s += "<text x=\"\(Int(l + pw / 2))\" y=\"\(Int(h - 10))\" text-anchor=\"middle\">average weight bits per element (incl. E8M0 scales)</text>\n"
    if let f = fp32, f.isFinite {
        s += "<line class=\"fp32-line\" x1=\"\(Int(l))\" y1=\"\(fmt1(Y(f)))\" x2=\"\(Int(l + pw))\" y2=\"\(fmt1(Y(f)))\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>"
        s += "<text x=\"\(Int(l + pw - 4))\" y=\"\(fmt1(Y(f) - 4))\" text-anchor=\"end\" fill=\"#555\">fp32 \(f2(f))</text>\n"
    }
    let front = paretoFront(pts)
    if front.count > 1 {
        s += "<polyline class=\"pareto-front\" fill=\"none\" stroke=\"#999\" stroke-width=\"1.5\" points=\"" + front.map { "\(fmt1(X(pts[$0].bits))),\(fmt1(Y(pts[$0].ppl)))" }.joined(separator: " ") + "\"/>\n"
    }
    let recipes = Array(Set(pts.map(\.recipe))).sorted()
    for p in pts {
        let c = seriesColors[(recipes.firstIndex(of: p.recipe) ?? 0) % seriesColors.count]
        let cx = X(p.bits), cy = Y(p.ppl)
        if let lo = p.lo, let hi = p.hi, lo.isFinite, hi.isFinite {
            s += "<line class=\"bits-errbar\" x1=\"\(fmt1(cx))\" y1=\"\(fmt1(Y(lo)))\" x2=\"\(fmt1(cx))\" y2=\"\(fmt1(Y(hi)))\" stroke=\"\(c)\" stroke-width=\"1.2\"/>"
        }
        let tip = "\(p.cellID): \(f2(p.ppl))" + (p.lo.map { " [\(f2($0)), \(f2(p.hi ?? $0))]" } ?? "") + " at \(String(format: "%.3f", p.bits)) bits"
        if p.isPlan {
            s += "<path class=\"plan-point\" d=\"M\(fmt1(cx)) \(fmt1(cy - 6)) L\(fmt1(cx + 6)) \(fmt1(cy)) L\(fmt1(cx)) \(fmt1(cy + 6)) L\(fmt1(cx - 6)) \(fmt1(cy)) Z\" fill=\"\(c)\"><title>\(xmlEscape(tip))</title></path>\n"
        } else {
            s += "<circle class=\"uniform-point\" cx=\"\(fmt1(cx))\" cy=\"\(fmt1(cy))\" r=\"4.5\" fill=\"\(c)\"><title>\(xmlEscape(tip))</title></circle>"
            s += "<text x=\"\(fmt1(cx + 7))\" y=\"\(fmt1(cy - 6))\" fill=\"#333\">\(xmlEscape(p.weights))</text>\n"
        }
    }
    for (k, rc) in recipes.enumerated() {
        s += "<rect x=\"\(Int(l + 8))\" y=\"\(Int(t + 8 + Double(k) * 16))\" width=\"10\" height=\"10\" fill=\"\(seriesColors[k % seriesColors.count])\"/>"
        s += "<text x=\"\(Int(l + 22))\" y=\"\(Int(t + 17 + Double(k) * 16))\">\(xmlEscape(rc))</text>\n"
    }
    s += "<rect x=\"\(Int(l))\" y=\"\(Int(t))\" width=\"\(Int(pw))\" height=\"\(Int(ph))\" fill=\"none\" stroke=\"#333\"/>\n</svg>\n"
    return s
}

/// Rows comparing each plan's prediction with what its evaluation measured: predicted ΔNLL (on the
/// calibration probe) and the ΔPPL it implies on each dataset (fp32 · (e^ΔNLL − 1)), against the
/// measured ΔNLL and ΔPPL (with its paired CI where present); and, per plan, the uniform formats it
/// beats at equal or lower average bits.
func planRows(_ dir: URL, _ data: ReportData) throws -> (header: [String], rows: [[String]])? {
    let recs = try loadCellRecords(dir).filter { $0.plan != nil }
    if recs.isEmpty { return nil }
    let pts = Dictionary(try bitsPoints(data).map { ($0.dataset, $0.points) }, uniquingKeysWith: { a, _ in a })
    let h = ["plan cell", "dataset", "avg bits", "predicted ΔNLL", "measured ΔNLL", "predicted ΔPPL", "measured ΔPPL", "beats uniform at ≤ bits"]
    var rows: [[String]] = []
    for r in recs {
        let p = r.plan!
        for e in r.evals {
            guard let f = r.fp32PPL[e.dataset] else { continue }
            let measured = e.nll - Foundation.log(f)
            let uni = (pts[e.dataset] ?? []).filter { !$0.isPlan && $0.bits <= p.averageBits + 1e-9 && $0.acts == r.acts && $0.recipe == r.recipe }
            let beaten = uni.filter { $0.ppl > e.ppl }.map(\.weights)
            let lost = uni.filter { $0.ppl <= e.ppl }.map(\.weights)
            let verdict = uni.isEmpty ? "— (no uniform format at ≤ bits)" : (lost.isEmpty ? "all: " + beaten.joined(separator: ", ") : "not " + lost.joined(separator: ", "))
            rows.append([r.id, e.dataset, String(format: "%.3f", p.averageBits), String(format: "%.4f", p.predictedDeltaNLL),
                         String(format: "%.4f", measured), String(format: "%+.2f", f * (Foundation.exp(p.predictedDeltaNLL) - 1)),
                         String(format: "%+.2f", e.ppl - f), verdict])
        }
    }
    return (h, rows)
}
