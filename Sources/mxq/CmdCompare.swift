import Foundation
import Support
import Experiments

enum CompareCommand: Command {
    static let name = "compare"
    static let summary = "paired comparison of every recipe with a baseline recipe (95% CI, verdict)"
    static let help = """
    mxq compare — is a recipe really better than the baseline? (paired bootstrap over windows and seeds)

    usage: mxq compare RESULTS_DIR [--baseline RECIPE] [--dataset D]

    Compares every recipe of RESULTS_DIR with the baseline recipe of the same configuration
    (formats, block, scale rule, rounding, calibration), paired over the same evaluation windows
    and seeds, from the per-window NLLs in cells/*.json. Per recipe and configuration: mean PPL
    of both, ΔPPL = PPL(recipe) − PPL(baseline) with its 95% CI (percentile bootstrap, 2000
    resamples, fixed seed; over several seeds it resamples seeds, then windows), the share of
    windows (and of seeds) where the recipe wins, and a verdict: better / worse when the whole CI
    is below / above 0, else not distinguishable. Prints the table and writes
    RESULTS_DIR/compare.md.

    A baseline run with a single seed (RTN does not depend on it) is paired with every seed of
    the other recipe; otherwise seeds pair with the same seed.

    options:
      --baseline RECIPE  the recipe to compare with (default rtn; fp32 compares with the fp32 cell)
      --dataset D        only this evaluation dataset
    """
    static func run(_ args: inout Args) throws {
        let baseline = try args.option("--baseline") ?? "rtn"
        let dataset = try args.option("--dataset")
        guard let d = args.positional() else { throw UsageError("compare: give a results folder (see 'mxq help compare')") }
        let dir = URL(fileURLWithPath: d)
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("summary.csv").path) else {
            throw UsageError("compare: \(dir.path) has no summary.csv (not a sweep results folder)")
        }
        let md = try compareMarkdown(dir, reference: baseline, dataset: dataset)
        let out = dir.appendingPathComponent("compare.md")
        try writeDurably(Data(md.utf8), to: out)
        print(md, terminator: "")
        printErr("compare: wrote \(out.path)")
    }
}
