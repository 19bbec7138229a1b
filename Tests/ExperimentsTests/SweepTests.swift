import XCTest
import Foundation
import TestSupport
import Support
@testable import Experiments

/// Fails after `limit` cells, like a crash in the middle of a sweep.
final class CrashingRunner: CellRunner {
    let inner: FakeRunner
    var limit: Int
    init(_ inner: FakeRunner, limit: Int) { self.inner = inner; self.limit = limit }
    struct Crash: Error {}
    func provenance() throws -> Provenance { try inner.provenance() }
    func baseline(progress: SweepProgress) throws -> [DatasetResult] { try inner.baseline(progress: progress) }
    func runCell(_ cell: Cell, progress: SweepProgress) throws -> CellResult {
        if limit == 0 { throw Crash() }
        limit -= 1
        return try inner.runCell(cell, progress: progress)
    }
}

/// Summary CSV without the timing columns (the only ones that may differ between runs).
func untimed(_ url: URL) throws -> String {
    let t = try CSVTable.load(url)
    let drop = Set(["wall_s", "eval_s", "quantize_s"].compactMap(t.column))
    return CSVTable(header: t.header.enumerated().filter { !drop.contains($0.offset) }.map(\.element),
                    rows: t.rows.map { $0.enumerated().filter { !drop.contains($0.offset) }.map(\.element) }).text
}

let smallManifest = """
{"name": "fake", "eval": {"datasets": ["wikitext2", "ptb"], "windows": 2, "ctx": 64},
 "calibration": {"n": 2, "len": 32},
 "grid": {"weights": ["mxint4", "mxfp4"], "acts": ["mxint8"], "recipes": ["fp32", "rtn", "sq+gptq"]}}
"""

final class SweepTests: XCTestCase {
    func testInProcessCrashAndResumeGiveTheSameTables() throws {
        MXQQuiet.set()
        let m = try Manifest.parse(Data(smallManifest.utf8), file: "m", defaultName: "m")
        XCTAssertEqual(m.cells.count, 5)
        let a = makeTempDir("mxq-sweep-a"), b = makeTempDir("mxq-sweep-b")
        defer { try? FileManager.default.removeItem(at: a); try? FileManager.default.removeItem(at: b) }

        try Sweep(manifest: m, dir: a, shard: nil, resume: false, environment: [:]).run(runner: FakeRunner(manifest: m, secondsPerCell: 0), gitCommit: "g")

        do {   // the crashed process: its lock ends with it
            let s1 = try Sweep(manifest: m, dir: b, shard: nil, resume: false, environment: [:])
            XCTAssertThrowsError(try s1.run(runner: CrashingRunner(FakeRunner(manifest: m, secondsPerCell: 0), limit: 2), gitCommit: "g"))
            // one writer per folder: a second sweep on it is refused while the first holds it
            XCTAssertThrowsError(try Sweep(manifest: m, dir: b, shard: nil, resume: true, environment: [:])) { e in
                XCTAssertTrue("\(e)".contains("in use by another mxq process"), "\(e)")
            }
            withExtendedLifetime(s1) {}
        }
        XCTAssertEqual(try loadCellRecords(b).map(\.index), [0, 1])
        // a second fresh sweep into the same folder is refused; resume is required
        XCTAssertThrowsError(try Sweep(manifest: m, dir: b, shard: nil, resume: false, environment: [:]))
        let counting = CrashingRunner(FakeRunner(manifest: m, secondsPerCell: 0), limit: 100)
        let ran = try Sweep(manifest: m, dir: b, shard: nil, resume: true, environment: [:]).run(runner: counting, gitCommit: "g")
        XCTAssertEqual(ran, 3)
        XCTAssertEqual(counting.limit, 97)
        XCTAssertEqual(try untimed(a.appendingPathComponent("summary.csv")), try untimed(b.appendingPathComponent("summary.csv")))
        XCTAssertEqual(try String(contentsOf: a.appendingPathComponent("layers.csv"), encoding: .utf8),
                       try String(contentsOf: b.appendingPathComponent("layers.csv"), encoding: .utf8))
        let t = try CSVTable.load(a.appendingPathComponent("summary.csv"))
        XCTAssertEqual(t.rows.count, 10)   // 5 cells × 2 datasets
        // fp32 row has delta 0 against the baseline
        XCTAssertEqual(t.rows[0][t.column("delta_ppl")!], "0")

        // resuming with another manifest is refused
        let other = try Manifest.parse(Data(smallManifest.replacingOccurrences(of: "\"windows\": 2", with: "\"windows\": 3").utf8), file: "m", defaultName: "m")
        XCTAssertThrowsError(try Sweep(manifest: other, dir: b, shard: nil, resume: true, environment: [:])) { e in
            XCTAssertTrue("\(e)".contains("different manifest"), "\(e)")
        }
    }

    func testMergeOfShardsEqualsTheFullRun() throws {
        MXQQuiet.set()
        let m = try Manifest.parse(Data(smallManifest.utf8), file: "m", defaultName: "m")
        let full = makeTempDir("mxq-full"), s0 = makeTempDir("mxq-s0"), s1 = makeTempDir("mxq-s1"), out = makeTempDir("mxq-merged")
        defer { for d in [full, s0, s1, out] { try? FileManager.default.removeItem(at: d) } }
        try Sweep(manifest: m, dir: full, shard: nil, resume: false, environment: [:]).run(runner: FakeRunner(manifest: m, secondsPerCell: 0), gitCommit: "g")
        try Sweep(manifest: m, dir: s0, shard: Shard(index: 0, count: 2), resume: false, environment: [:]).run(runner: FakeRunner(manifest: m, secondsPerCell: 0), gitCommit: "g")
        let partial = try mergeResults([s0], into: out)
        XCTAssertEqual(partial.cellsMerged, 3)
        XCTAssertEqual(partial.missing, [m.cells[1].id, m.cells[3].id])
        try Sweep(manifest: m, dir: s1, shard: Shard(index: 1, count: 2), resume: false, environment: [:]).run(runner: FakeRunner(manifest: m, secondsPerCell: 0), gitCommit: "g")
        let s = try mergeResults([s0, s1], into: out)
        XCTAssertEqual(s.cellsMerged, 5)
        XCTAssertEqual(s.missing, [])
        XCTAssertEqual(try untimed(full.appendingPathComponent("summary.csv")), try untimed(out.appendingPathComponent("summary.csv")))
    }
}

enum MXQQuiet { static func set() { setenv("MXQ_QUIET", "1", 1) } }

final class ProgressETATests: XCTestCase {
    func testETAUsesMeasuredSpeedAndIgnoresTheFP32Cell() throws {
        MXQQuiet.set()
        let m = try Manifest.parse(Data(smallManifest.utf8), file: "m", defaultName: "m")
        // every cell costs 100 s by this model
        let p = SweepProgress(cost: { _ in 100 })
        p.begin(cells: m.cells, baseline: 10)
        // baseline took 6x its estimate: everything is expected 6x slower
        p.calibrate(actual: 60, estimate: 10)
        XCTAssertEqual(p.etaSeconds, 5 * 100 * 6, accuracy: 1)
        p.startCell(m.cells[0], position: 1, of: 5)   // fp32: finishes at once
        p.finishCell(countsForSpeed: false)
        XCTAssertEqual(p.etaSeconds, 4 * 100 * 6, accuracy: 1)
    }

    /// Resume and merge refuse records made from other inputs; default folders never collide.
    func testProvenanceIsVerifiedOnResumeAndMerge() throws {
        MXQQuiet.set()
        let m = try Manifest.parse(Data(smallManifest.utf8), file: "m", defaultName: "m")
        let a = makeTempDir("mxq-prov-a"), out = makeTempDir("mxq-prov-out")
        try Sweep(manifest: m, dir: a, shard: Shard(index: 0, count: 2), resume: false, environment: [:])
            .run(runner: FakeRunner(manifest: m, secondsPerCell: 0), gitCommit: "g")
        // a record whose model hash differs (made from another checkpoint) is refused on resume…
        let u = a.appendingPathComponent("cells/0002.json")
        let original = try Data(contentsOf: u)
        var rec = try JSONIO.decoder().decode(CellRecord.self, from: original)
        rec.provenance.modelSHA256 = String(repeating: "0", count: 64)
        try JSONIO.encoder().encode(rec).write(to: u)
        XCTAssertThrowsError(try Sweep(manifest: m, dir: a, shard: Shard(index: 0, count: 2), resume: true, environment: [:])
            .run(runner: FakeRunner(manifest: m, secondsPerCell: 0), gitCommit: "g")) { e in
            XCTAssertTrue("\(e)".contains("made from other inputs: model sha256"), "\(e)")
        }
        // …and by merge, against the other shard
        let b = makeTempDir("mxq-prov-b")
        try Sweep(manifest: m, dir: b, shard: Shard(index: 1, count: 2), resume: false, environment: [:])
            .run(runner: FakeRunner(manifest: m, secondsPerCell: 0), gitCommit: "h")
        XCTAssertThrowsError(try mergeResults([a, b], into: out)) { e in XCTAssertTrue("\(e)".contains("different inputs"), "\(e)") }
        try original.write(to: u)
        let s = try mergeResults([a, b], into: out)
        XCTAssertEqual(s.cellsMerged, 5)
        XCTAssertEqual(s.commits, ["g", "h"])
        // unique default folders, and an exclusive manifest.resolved.json
        let parent = makeTempDir("mxq-unique")
        let f1 = try makeUniqueFolder(parent, leaf: "20260101T000000Z"), f2 = try makeUniqueFolder(parent, leaf: "20260101T000000Z")
        XCTAssertNotEqual(f1, f2)
        XCTAssertEqual(f2.lastPathComponent, "20260101T000000Z-2")
        try writeDurably(Data("a".utf8), to: f1.appendingPathComponent("x"), exclusive: true)
        XCTAssertThrowsError(try writeDurably(Data("b".utf8), to: f1.appendingPathComponent("x"), exclusive: true))
    }

    func testNamesNeverLeaveTheResultsFolder() throws {
        for bad in ["..", ".", ".hidden", "a/b", "", String(repeating: "x", count: 101)] {
            XCTAssertThrowsError(try Manifest.parse(Data(#"{"name": "\#(bad)", "eval": {"datasets": ["ptb"]}, "cells": [{"recipe": "fp32"}]}"#.utf8),
                                                    file: "m", defaultName: "ok"), bad)
        }
        XCTAssertThrowsError(try Manifest.parse(Data(#"{"eval": {"datasets": ["ptb"]}, "cells": [{"recipe": "fp32"}]}"#.utf8), file: "m", defaultName: ".."))
        XCTAssertNoThrow(try Manifest.parse(Data(#"{"eval": {"datasets": ["ptb"]}, "cells": [{"recipe": "fp32"}]}"#.utf8), file: "m", defaultName: "w4a8-mxint.v2"))
        // a folder or a device as calibration text or manifest is refused before anything is made
        XCTAssertThrowsError(try Manifest.parse(Data(#"{"eval": {"datasets": ["ptb"]}, "calibration": {"dataset": "experiments"}, "grid": {"weights": ["mxint4"], "acts": ["none"], "recipes": ["gptq"]}}"#.utf8), file: "m", defaultName: "x")) { e in
            XCTAssertTrue("\(e)".contains("is a folder"), "\(e)")
        }
        XCTAssertThrowsError(try Manifest.load(path: "/dev/zero")) { e in XCTAssertTrue("\(e)".contains("not a regular file"), "\(e)") }
        XCTAssertThrowsError(try Manifest.load(path: "/tmp")) { e in XCTAssertTrue("\(e)".contains("not a regular file"), "\(e)") }
    }
}
