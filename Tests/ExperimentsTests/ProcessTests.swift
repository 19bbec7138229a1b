import XCTest
import Foundation
import TestSupport
@testable import Experiments

/// End-to-end tests of the `mxq` binary built next to the test bundle: validation exit
/// codes, dry-run listing, resume after SIGKILL, two shard processes + merge.
final class ProcessTests: XCTestCase {
    var mxq: URL {
        var d = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if d.lastPathComponent.hasSuffix(".xctest") { d = d.deletingLastPathComponent() }
        for c in [d.appendingPathComponent("mxq"), d.deletingLastPathComponent().appendingPathComponent("mxq")]
        where FileManager.default.isExecutableFile(atPath: c.path) { return c }
        XCTFail("mxq binary not found next to \(CommandLine.arguments[0]); build with 'swift build --build-tests'")
        return d.appendingPathComponent("mxq")
    }

    @discardableResult
    func run(_ args: [String], expect: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> (out: String, err: String) {
        let p = Process()
        p.executableURL = mxq
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["MXQ_QUIET"] = "1"
        p.environment = env
        let o = Pipe(), e = Pipe()
        p.standardOutput = o; p.standardError = e
        try p.run()
        let od = o.fileHandleForReading.readDataToEndOfFile(), ed = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: od, as: UTF8.self), err = String(decoding: ed, as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, expect, "mxq \(args.joined(separator: " ")): \(err)", file: file, line: line)
        return (out, err)
    }

    func writeManifest(_ dir: URL, _ text: String = smallManifest) throws -> String {
        let u = dir.appendingPathComponent("fake.json")
        try text.write(to: u, atomically: true, encoding: .utf8)
        return u.path
    }

    func testValidationErrorsExitTwoWithPaths() throws {
        let dir = makeTempDir("mxq-cli"); defer { try? FileManager.default.removeItem(at: dir) }
        let m = try writeManifest(dir, smallManifest.replacingOccurrences(of: "\"sq+gptq\"", with: "{\"name\": \"s\", \"stages\": [{\"stage\": \"smoothquant\", \"alpha\": -1}]}"))
        let r = try run(["sweep", m, "--dry-run"], expect: 2)
        XCTAssertTrue(r.err.contains("grid.recipes[2].stages[0].alpha: got -1; allowed: a number in [0, 1]"), r.err)
    }

    func testDryRunListsCells() throws {
        let dir = makeTempDir("mxq-cli"); defer { try? FileManager.default.removeItem(at: dir) }
        let r = try run(["sweep", try writeManifest(dir), "--dry-run", "--shard", "1/2"])
        XCTAssertTrue(r.out.contains("manifest fake: 5 cell(s) × 2 dataset(s)"), r.out)
        XCTAssertTrue(r.out.contains("    1  rtn_Wmxint4_Amxint8_b32_floor_even_s0"), r.out)
        XCTAssertTrue(r.out.contains("    3  rtn_Wmxfp4_e2m1_Amxint8_b32_floor_even_s0"), r.out)
        XCTAssertFalse(r.out.contains("    2  sq+gptq_Wmxint4"), r.out)
        XCTAssertTrue(r.out.contains("estimated total:"), r.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("results").path))
    }

    func testResumeAfterKill() throws {
        let dir = makeTempDir("mxq-kill"); defer { try? FileManager.default.removeItem(at: dir) }
        let m = try writeManifest(dir)
        let a = dir.appendingPathComponent("a"), b = dir.appendingPathComponent("b")
        // slow fake sweep, killed (SIGKILL) once two cells are on disk
        let p = Process()
        p.executableURL = mxq
        p.arguments = ["sweep", m, "--out", a.path, "--fake-runner", "0.4"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(30)
        while (try? loadCellRecords(a).count) ?? 0 < 2 && Date() < deadline { usleep(20_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        let kept = try loadCellRecords(a).count
        XCTAssertGreaterThanOrEqual(kept, 2)
        XCTAssertLessThan(kept, 5)
        // resume finishes the rest; an uninterrupted run gives the same tables
        let r = try run(["sweep", m, "--resume", a.path, "--fake-runner", "0"])
        XCTAssertTrue(r.out.contains("| rtn |"), r.out)
        XCTAssertEqual(try loadCellRecords(a).count, 5)
        try run(["sweep", m, "--out", b.path, "--fake-runner", "0", "--threads", "1"])
        XCTAssertEqual(try untimed(a.appendingPathComponent("summary.csv")), try untimed(b.appendingPathComponent("summary.csv")))
        XCTAssertEqual(try String(contentsOf: a.appendingPathComponent("layers.csv"), encoding: .utf8),
                       try String(contentsOf: b.appendingPathComponent("layers.csv"), encoding: .utf8))
        // env.json records both runs of the resumed sweep
        let env = try JSONSerialization.jsonObject(with: Data(contentsOf: a.appendingPathComponent("env.json"))) as! [String: Any]
        XCTAssertEqual((env["runs"] as! [Any]).count, 2)
        // --out into an existing sweep is refused
        let again = try run(["sweep", m, "--out", a.path, "--fake-runner", "0"], expect: 2)
        XCTAssertTrue(again.err.contains("already holds a sweep"), again.err)
    }

    func testTwoShardProcessesAndMerge() throws {
        let dir = makeTempDir("mxq-shard"); defer { try? FileManager.default.removeItem(at: dir) }
        let m = try writeManifest(dir)
        let s0 = dir.appendingPathComponent("s0"), s1 = dir.appendingPathComponent("s1")
        var procs: [Process] = []
        for (i, d) in [s0, s1].enumerated() {
            let p = Process()
            p.executableURL = mxq
            p.arguments = ["sweep", m, "--out", d.path, "--shard", "\(i)/2", "--fake-runner", "0.05"]
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            try p.run()
            procs.append(p)
        }
        for p in procs { p.waitUntilExit(); XCTAssertEqual(p.terminationStatus, 0) }
        XCTAssertEqual(try loadCellRecords(s0).map(\.index), [0, 2, 4])
        XCTAssertEqual(try loadCellRecords(s1).map(\.index), [1, 3])
        let merged = dir.appendingPathComponent("merged")
        let r = try run(["merge", s0.path, s1.path, "--out", merged.path])
        XCTAssertTrue(r.out.contains("merged 5 of 5 cells"), r.out)
        let full = dir.appendingPathComponent("full")
        try run(["sweep", m, "--out", full.path, "--fake-runner", "0"])
        XCTAssertEqual(try untimed(full.appendingPathComponent("summary.csv")), try untimed(merged.appendingPathComponent("summary.csv")))
        let rep = try run(["report", merged.path])
        XCTAssertTrue(rep.out.contains("cells finished: 5 of 5"), rep.out)
        XCTAssertTrue(rep.out.contains("- evaluation path: `fake-runner` (5 cells)"), rep.out)   // the summary's path column
        XCTAssertTrue(FileManager.default.fileExists(atPath: merged.appendingPathComponent("report.md").path))
        let lay = try run(["layers", merged.path, "--cell", "sq+gptq_Wmxint4_Amxint8_b32_floor_even_s0"])
        XCTAssertTrue(lay.out.contains("| 1 | layers."), lay.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: merged.appendingPathComponent("layers/sq+gptq_Wmxint4_Amxint8_b32_floor_even_s0.svg").path))
    }
}
