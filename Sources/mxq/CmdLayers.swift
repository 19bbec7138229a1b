import Foundation
import Support
import Experiments

enum LayersCommand: Command {
    static let name = "layers"
    static let summary = "per-layer error tables and plots of a results directory"
    static let help = """
    mxq layers — per-layer error tables and plots of a results directory

    usage: mxq layers RESULTS_DIR [--cell ID] [--top N]

    Reads RESULTS_DIR/layers.csv. For every cell (or only --cell ID; ids are in summary.csv
    and 'mxq sweep --dry-run'), prints a table of its linear layers sorted by sensitivity
    (lowest output SQNR after the last stage first) with weight and output SQNR after each
    stage, output MSE, saturated and flushed-to-zero shares and the scale-exponent range.
    Writes RESULTS_DIR/layers/<cell>.md (full table), RESULTS_DIR/layers/<cell>.svg (output
    SQNR per layer, one series per stage) and RESULTS_DIR/report.html (tables and plots).

    options:
      --cell ID   only this cell
      --top N     rows printed per cell (default 10, or all with --cell; files always hold all)
    """
    static func run(_ args: inout Args) throws {
        let cell = try args.option("--cell")
        let top = try args.int("--top")
        if let t = top, t < 0 { throw UsageError("layers: --top expects N >= 0 (0 = all), got \(t)") }
        guard let d = args.positional() else { throw UsageError("layers: give a results folder (see 'mxq help layers')") }
        let dir = URL(fileURLWithPath: d)
        print(try writeLayerReports(dir, only: cell, top: top ?? (cell == nil ? 10 : 0)), terminator: "")
        printErr("layers: wrote \(dir.appendingPathComponent("layers").path)/ and \(dir.appendingPathComponent("report.html").path)")
    }
}
