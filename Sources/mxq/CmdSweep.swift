import Foundation
import Support
import Experiments

enum SweepCommand: Command {
    static let name = "sweep"
    static let summary = "run a JSON experiment manifest (grid of formats × recipes), resumable and shardable"
    static let help = """
    mxq sweep — run a JSON experiment manifest

    usage: mxq sweep MANIFEST [--dry-run [--print-eval]] [--out DIR | --resume DIR] [--shard i/n] [--threads N]

    Validates MANIFEST (every error, with its JSON path), then runs its cells in order:
    the fp32 baseline once, then per cell quantization (calibration shared) and
    perplexity on every dataset. Results go to DIR (default
    results/<manifest name>/<UTC timestamp>[-shard-i-of-n]/):
      manifest.resolved.json  the manifest with defaults filled in and cells expanded
      env.json                machine, CPU, Swift version, threads, git commit (one entry per run/resume)
      baseline.json           fp32 perplexities and input hashes
      cells/NNNN.json         one record per finished cell, written atomically as it finishes
      summary.csv             one row per cell × dataset (config, ppl, delta vs fp32, nll, tokens,
                              timings, weight bits/element incl. scales, sha256 provenance)
      layers.csv              per cell, linear layer and stage: SQNRs, MSE, saturation, scale exponents
    Killing the process loses no finished cell; --resume DIR continues and yields the
    same tables as an uninterrupted run. The schema is in experiments/README.md.

    options:
      --dry-run        validate, list the cells (with ids) and an estimated time; run nothing
      --print-eval     with --dry-run: print each cell as the equivalent 'mxq eval' command line
      --out DIR        results folder (must not already hold a sweep)
      --resume DIR     continue the sweep in DIR (same manifest and --shard required)
      --shard i/n      run only cells whose index ≡ i (mod n), 0 ≤ i < n; join with 'mxq merge'
      --threads N      threads for the numeric kernels (results do not depend on it)
      --fake-runner S  TESTING ONLY: replace the model with a deterministic fake that sleeps
                       S seconds per cell (used by the resume/shard tests); numbers are not real
    """

    static func run(_ args: inout Args) throws {
        let dryRun = args.flag("--dry-run")
        let printEval = args.flag("--print-eval")
        let out = try args.option("--out")
        let resume = try args.option("--resume")
        let shard = try args.option("--shard").map(Shard.init(parsing:))
        let fake = try args.double("--fake-runner")
        guard let path = args.positional() else { throw UsageError("sweep: give a manifest file (see 'mxq help sweep')") }
        if out != nil && resume != nil { throw UsageError("sweep: give --out or --resume, not both") }
        if let f = fake, !(f >= 0 && f < 3600) { throw UsageError("sweep: --fake-runner expects seconds per cell in [0, 3600), got \(f)") }
        let manifest = try Manifest.load(path: path)
        if printEval && !dryRun { throw UsageError("sweep: --print-eval goes with --dry-run") }
        if dryRun {
            if printEval {
                for (i, c) in manifest.cells.enumerated() where shard?.contains(i) ?? true {
                    print("# cell \(i): \(c.id)\n" + evalCommandLine(manifest, cell: c))
                }
            } else {
                print(dryRunListing(manifest, shard: shard), terminator: "")
            }
            return
        }
        let runner: CellRunner
        if let f = fake {
            runner = FakeRunner(manifest: manifest, secondsPerCell: f)
        } else {
            runner = try makeRealRunner(manifest)
        }
        let dir: URL
        if let r = resume { dir = URL(fileURLWithPath: r) }
        else if let o = out { dir = URL(fileURLWithPath: o) }
        else {
            var leaf = Experiments.Environment.utcTimestamp()
            if let s = shard { leaf += "-shard-\(s.index)-of-\(s.count)" }
            dir = try makeUniqueFolder(Paths.root.appendingPathComponent("results").appendingPathComponent(manifest.name), leaf: leaf)
        }
        var env = Experiments.Environment.collect(threads: Parallel.defaultThreads, arguments: CommandLine.arguments)
        if fake != nil { env["runner"] = "fake (testing only: numbers are not real)" } else { env["runner"] = "real" }
        let sweep = try Sweep(manifest: manifest, dir: dir, shard: shard, resume: resume != nil, environment: env)
        printErr("sweep: results in \(dir.path)")
        let ran = try sweep.run(runner: runner, gitCommit: env["git_commit"] as? String ?? "unknown")
        printErr("sweep: \(ran) cell(s) run; \(dir.appendingPathComponent("summary.csv").path)")
        print(try accuracyMarkdown(dir), terminator: "")
    }
}
