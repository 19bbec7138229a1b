import XCTest
import Support
import TestSupport
@testable import Experiments

/// Mutation fuzzing of manifest JSON (issue #12 §2): every number, string and literal of two
/// valid manifests (a grid and a cell list) is replaced by boundary values, other types and
/// other tokens (fixed seed). Every mutant must parse or give a `ManifestError`, fast; a
/// parsed manifest must resolve to JSON that parses again to the same cells.
final class ManifestFuzzTests: XCTestCase {
    static let mutantsPerBase = 1_000

    static let grid = """
    {"name": "fz", "description": "fuzz base", "model": "smollm2-135m",
     "eval": {"datasets": ["wikitext2", "ptb"], "windows": 4, "ctx": 128},
     "calibration": {"dataset": "ptb-train", "n": 4, "len": 64},
     "grid": {"weights": ["mxint4", "mxfp4"], "acts": ["none", "mxint8"], "blocks": [32, 16],
              "scale_rules": ["floor"], "roundings": ["even"],
              "recipes": ["fp32", "rtn", {"name": "sq+gptq", "stages": [{"stage": "sq", "alpha": 0.25},
                          {"stage": "gptq", "act_order": true, "damp": 0.01, "block_size": 64}]},
                          {"name": "awq", "stages": [{"stage": "awq", "grid": 10, "search_tokens": 512}]}],
              "seeds": [0, 7]}}
    """

    static let cells = """
    {"eval": {"datasets": ["ptb"], "windows": "all", "ctx": 256},
     "calibration": {"n": 8, "len": 32, "seed": 3},
     "cells": [{"weights": "mxint8", "acts": "mxint8", "block": 32, "scale_rule": "floor", "rounding": "away",
                "recipe": "sq+gptq", "seed": 1},
               {"weights": "none", "acts": "none", "recipe": "fp32"},
               {"weights": "mxfp6_e3m2", "acts": "none", "recipe": {"name": "g", "stages": [{"stage": "gptq", "true_sequential": false}]}}]}
    """

    func testManifestMutants() throws {
        var total = 0
        for (name, text) in [("grid", Self.grid), ("cells", Self.cells)] {
            let base = Array(text.utf8)
            _ = try Manifest.parse(Data(base), file: "\(name).json", defaultName: name, checkFiles: false)
            let (toks, ms) = jsonMutants(of: base, count: Self.mutantsPerBase, seed: name == "grid" ? 0x6d67 : 0x6d63)
            let t0 = monotonicSeconds()
            let tally = runFuzz(format: "manifest-\(name)", count: ms.count, multiLineMessages: true, describe: { ms[$0].description }) { i in
                let d = Data(ms[i].apply(to: base, tokens: toks))
                let m: Manifest
                do { m = try Manifest.parse(d, file: "m.json", defaultName: "m", checkFiles: false) } catch let e as ManifestError {
                    // one header line plus exactly one line per issue (values from the file are escaped)
                    precondition(e.description.split(separator: "\n", omittingEmptySubsequences: false).count == e.issues.count + 1,
                                 "manifest error lines: \(e.description)")
                    throw e
                }
                let r = try Manifest.parse(m.resolvedJSON(), file: "r.json", defaultName: "m", checkFiles: false)
                precondition(r.cells == m.cells, "resolved manifest has other cells")
            }
            print("manifest fuzz (\(name)): \(ms.count) mutants over \(toks.count) tokens in \(String(format: "%.1f", monotonicSeconds() - t0)) s: \(tally)")
            XCTAssertTrue(tally.failures.isEmpty, tally.failures.prefix(20).joined(separator: "\n"))
            total += ms.count
        }
        XCTAssertGreaterThanOrEqual(total, 2_000)
    }

    /// A grid whose lists are each short but whose product is astronomically large is an
    /// error, not a hang.
    func testHugeGridIsRejected() {
        let seeds = (0..<60).map(String.init).joined(separator: ",")
        let blocks = stride(from: 2, through: 120, by: 2).map(String.init).joined(separator: ",")
        let text = """
        {"eval": {"datasets": ["ptb"]}, "grid": {"weights": ["mxint4", "mxint8", "mxfp4", "mxfp6_e3m2"],
         "acts": ["none", "mxint8", "mxint4", "mxfp4"], "blocks": [\(blocks)], "roundings": ["even", "away", "stochastic"],
         "recipes": ["rtn", "gptq", "sq", "awq", "sq+gptq"], "seeds": [\(seeds)]}}
        """
        let t0 = monotonicSeconds()
        XCTAssertThrowsError(try Manifest.parse(Data(text.utf8), file: "huge.json", defaultName: "h", checkFiles: false)) { e in
            XCTAssertTrue(e is ManifestError, "\(e)")
        }
        XCTAssertLessThan(monotonicSeconds() - t0, 5)
    }
}

/// A manifest path that is a device or FIFO is a typed error, not an endless read.
final class ManifestPathTests: XCTestCase {
    func testDevZeroManifestIsTypedError() throws {
        guard FileManager.default.fileExists(atPath: "/dev/zero") else { return }
        let t0 = monotonicSeconds()
        XCTAssertThrowsError(try Manifest.load(path: "/dev/zero")) { XCTAssertTrue($0 is UserFacingError, "\($0)") }
        XCTAssertLessThan(monotonicSeconds() - t0, 2)
    }
}
