import Foundation
import Support
import Experiments

enum ReportCommand: Command {
    static let name = "report"
    static let summary = "accuracy table (Markdown) of a results directory"
    static let help = """
    mxq report — accuracy table (Markdown) of a results directory

    usage: mxq report RESULTS_DIR [--first-windows K]

    Reads RESULTS_DIR/summary.csv (from 'mxq sweep' or 'mxq merge') and prints one table per
    dataset: recipes (rows) × format configurations (columns), perplexity and its delta vs the
    fp32 baseline, each with its 95% bootstrap CI over windows (paired for the delta; cells that
    differ only by seed aggregated: mean ±sd, CI over seeds and windows, min–max) and the
    verdict against RTN of the same configuration (better / worse / not distinguishable; the
    table of 'mxq compare' follows). Intervals and verdicts need the per-window NLLs of
    cells/*.json; without them the table shows the numbers alone. Also writes
    RESULTS_DIR/report.md and RESULTS_DIR/report.html (a PPL chart with CI error bars per
    dataset above its tables, plus per-layer SQNR heat maps and plots when layers.csv has
    records; self-contained, no network needed).

    options:
      --first-windows K  recompute every perplexity (fp32 baseline included) over the first K
                         evaluation windows only, from the per-window NLLs in cells/*.json, and
                         write report-first-K.md instead (e.g. the first-16-window table of a
                         full-test-set sweep)
    """
    static func run(_ args: inout Args) throws {
        guard let d = args.positional() else { throw UsageError("report: give a results folder (see 'mxq help report')") }
        let dir = URL(fileURLWithPath: d)
        if let k = try args.int("--first-windows") {
            let md = try accuracyMarkdown(dir, firstWindows: k)
            let out = dir.appendingPathComponent("report-first-\(k).md")
            try writeDurably(Data(md.utf8), to: out)
            print(md, terminator: "")
            printErr("report: wrote \(out.path)")
            return
        }
        let md = try accuracyMarkdown(dir)
        try writeDurably(Data(md.utf8), to: dir.appendingPathComponent("report.md"))
        try writeHTMLReport(dir)
        print(md, terminator: "")
        printErr("report: wrote \(dir.appendingPathComponent("report.md").path) and report.html")
    }
}
