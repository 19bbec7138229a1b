import Foundation
import Support

/// Outcome of `mergeResults`.
public struct MergeSummary: Sendable {
    public var cellsMerged: Int
    public var cellsTotal: Int
    /// Ids of manifest cells no input folder has finished.
    public var missing: [String]
    /// The code commits the merged records were made at (more than one is worth a look).
    public var commits: [String] = []
}

/// Joins the results folders of shards (or partial runs) of one manifest into `out`:
/// the union of their cell records, `summary.csv` and `layers.csv` over all of them,
/// the shared `manifest.resolved.json`, and an `env.json` listing every input's environment.
/// All inputs must hold the same resolved manifest; a cell finished in two inputs must
/// have the same results (timings may differ; the first input's record is kept).
public func mergeResults(_ inputs: [URL], into out: URL) throws -> MergeSummary {
    guard !inputs.isEmpty else { throw UsageError("merge: give at least one results folder") }
    let fm = FileManager.default
    var manifestData: Data? = nil
    var manifestFrom = ""
    var byIndex: [Int: (CellRecord, String)] = [:]
    var envs: [Any] = []
    var baseline: Data? = nil
    for dir in inputs {
        let mURL = dir.appendingPathComponent("manifest.resolved.json")
        guard let m = fm.contents(atPath: mURL.path) else {
            throw UsageError("merge: \(dir.path) has no manifest.resolved.json (not a sweep results folder)")
        }
        if let first = manifestData, first != m {
            throw UsageError("merge: \(dir.path) ran a different manifest than \(manifestFrom) (sha256 \(SHA256.hex(of: m)) vs \(SHA256.hex(of: first)))")
        }
        if manifestData == nil { manifestData = m; manifestFrom = dir.path }
        if let e = fm.contents(atPath: dir.appendingPathComponent("env.json").path),
           let o = try? JSONSerialization.jsonObject(with: e) {
            envs.append(["folder": dir.path, "env": o])
        }
        if baseline == nil { baseline = fm.contents(atPath: dir.appendingPathComponent("baseline.json").path) }
        for r in try loadCellRecords(dir) {
            if let (old, from) = byIndex[r.index] {
                if old.evals.map({ [$0.ppl, $0.nll] }) != r.evals.map({ [$0.ppl, $0.nll] }) || old.id != r.id {
                    throw UsageError("merge: cell \(r.index) (\(r.id)) was finished in \(from) and \(dir.path) with different results")
                }
                continue
            }
            byIndex[r.index] = (r, dir.path)
        }
    }
    let manifest = try Manifest.parse(manifestData!, file: manifestFrom + "/manifest.resolved.json", defaultName: "merged", checkFiles: false)
    // every record must come from the same model, data and (per calibration dataset) calibration text
    let all = byIndex.values.sorted { $0.0.index < $1.0.index }
    if let (first, firstFrom) = all.first {
        var calib: [String: (String, String)] = [:]
        for (r, from) in all {
            guard r.manifestSHA256 == manifest.sha256 else {
                throw UsageError("merge: \(from) cell \(r.index) (\(r.id)) records manifest sha256 \(r.manifestSHA256), not \(manifest.sha256)")
            }
            var a = r.provenance, b = first.provenance
            a.calibrationSHA256 = ""; b.calibrationSHA256 = ""
            if let why = provenanceMismatch(a, b) {
                throw UsageError("merge: \(from) cell \(r.index) (\(r.id)) and \(firstFrom) cell \(first.index) were made from different inputs: \(why)")
            }
            if r.recipe != "fp32" {
                if let (h, f) = calib[r.calibDataset], h != r.provenance.calibrationSHA256 {
                    throw UsageError("merge: \(from) cell \(r.index) (\(r.id)) and \(f) used different calibration texts for \(r.calibDataset) (sha256 \(r.provenance.calibrationSHA256) vs \(h))")
                }
                calib[r.calibDataset] = (r.provenance.calibrationSHA256, from)
            }
        }
    }
    for (i, (r, from)) in byIndex where i >= manifest.cells.count || manifest.cells[i].id != r.id {
        throw UsageError("merge: \(from) has a record for cell \(i) '\(r.id)', which is not cell \(i) of its manifest")
    }
    let outM = out.appendingPathComponent("manifest.resolved.json")
    if let existing = fm.contents(atPath: outM.path), existing != manifestData! {
        throw UsageError("merge: \(out.path) already holds results of another manifest")
    }
    try fm.createDirectory(at: out.appendingPathComponent("cells"), withIntermediateDirectories: true)
    try writeDurably(manifestData!, to: outM)
    if let b = baseline { try writeDurably(b, to: out.appendingPathComponent("baseline.json")) }
    let records = byIndex.values.map(\.0).sorted { $0.index < $1.index }
    for r in records {
        try writeDurably(try JSONIO.encoder().encode(r), to: out.appendingPathComponent("cells").appendingPathComponent(cellRecordName(r.index)))
    }
    let missing = manifest.cells.indices.filter { byIndex[$0] == nil }.map { manifest.cells[$0].id }
    let env: [String: Any] = ["merged_from": envs, "complete": missing.isEmpty, "missing_cells": missing,
                              "manifest_sha256": manifest.sha256, "merged_utc": Environment.utcTimestamp(iso: true)]
    try writeDurably(try JSONSerialization.data(withJSONObject: env, options: [.prettyPrinted, .sortedKeys]), to: out.appendingPathComponent("env.json"))
    try writeTables(out, records: records)
    return MergeSummary(cellsMerged: records.count, cellsTotal: manifest.cells.count, missing: missing,
                        commits: Array(Set(records.map(\.gitCommit))).sorted())
}
