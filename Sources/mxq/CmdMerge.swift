import Foundation
import Support
import Experiments

enum MergeCommand: Command {
    static let name = "merge"
    static let summary = "join shard results into one table"
    static let help = """
    mxq merge — join shard results into one table

    usage: mxq merge DIR... [--out DIR]

    Joins results folders of one manifest (e.g. the shards of 'mxq sweep --shard i/n') into
    one folder with the union of their cells, summary.csv, layers.csv, the shared
    manifest.resolved.json and an env.json listing every input. Refuses inputs of different
    manifests or with conflicting results for a cell; reports cells no input has finished.

    options:
      --out DIR   output folder (default: merged/ next to the first input)
    """
    static func run(_ args: inout Args) throws {
        let out = try args.option("--out")
        var dirs: [URL] = []
        while let d = args.positional() { dirs.append(URL(fileURLWithPath: d)) }
        guard !dirs.isEmpty else { throw UsageError("merge: give one or more results folders (see 'mxq help merge')") }
        let outDir = out.map { URL(fileURLWithPath: $0) } ?? dirs[0].deletingLastPathComponent().appendingPathComponent("merged")
        let s = try mergeResults(dirs, into: outDir)
        print("merged \(s.cellsMerged) of \(s.cellsTotal) cells into \(outDir.path)")
        if s.commits.count > 1 { print("note: the records were made at \(s.commits.count) code commits: \(s.commits.joined(separator: ", "))") }
        if !s.missing.isEmpty { print("missing (\(s.missing.count)): \(s.missing.joined(separator: ", "))") }
    }
}
