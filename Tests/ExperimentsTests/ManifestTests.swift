import XCTest
import Foundation
@testable import Experiments

final class ManifestTests: XCTestCase {
    func parse(_ s: String) throws -> Manifest { try Manifest.parse(Data(s.utf8), file: "t.json", defaultName: "t") }

    func issues(_ s: String) -> [String] {
        do { _ = try parse(s); XCTFail("expected a ManifestError"); return [] } catch let e as ManifestError {
            return e.issues.map(\.description)
        } catch { XCTFail("unexpected \(error)"); return [] }
    }

    let grid = """
    {"eval": {"datasets": ["wikitext2", "ptb"], "windows": 4, "ctx": 128},
     "calibration": {"n": 4, "len": 64},
     "grid": {"weights": ["mxint4", "mxfp4"], "acts": ["none", "mxint8"], "blocks": [32],
              "recipes": ["fp32", "rtn", {"name": "sq+gptq", "stages": [{"stage": "sq", "alpha": 0.25}, {"stage": "gptq", "act_order": true}]}],
              "seeds": [0, 7]}}
    """

    func testGridExpansionOrderIdsAndDefaults() throws {
        let m = try parse(grid)
        // fp32 once; 2 weights × 2 acts × (rtn, sq+gptq) × 2 seeds = 16 quantized cells
        XCTAssertEqual(m.cells.count, 17)
        XCTAssertEqual(m.cells[0].id, "fp32")
        XCTAssertEqual(m.cells[1].id, "rtn_Wmxint4_Anone_b32_floor_even_s0")
        XCTAssertEqual(m.cells[2].id, "rtn_Wmxint4_Anone_b32_floor_even_s7")
        XCTAssertEqual(m.cells[3].id, "sq+gptq_Wmxint4_Anone_b32_floor_even_s0")
        XCTAssertEqual(m.cells.last!.id, "sq+gptq_Wmxfp4_e2m1_Amxint8_b32_floor_even_s7")
        XCTAssertEqual(m.cells[3].recipe.stagesDescription, "smoothquant(alpha=0.25)>gptq(act_order=true,damp=0.01,block_size=128,true_sequential=true)")
        XCTAssertEqual(m.datasets, ["wikitext2", "ptb"])
        XCTAssertEqual(m.windows, 4)
        XCTAssertEqual(m.calibrationDataset, "ptb-train")
        XCTAssertEqual(m.model, "smollm2-135m")
        XCTAssertEqual(m.name, "t")
        // 4.25 bits: 4-bit elements + one 8-bit scale per 32
        XCTAssertEqual(m.cells[1].weightBitsPerElement, 4.25)
        XCTAssertEqual(m.cells[0].weightBitsPerElement, 32)
    }

    func testResolvedManifestIsAValidManifestOfTheSameCells() throws {
        let m = try parse(grid)
        let r = try Manifest.parse(m.resolvedJSON(), file: "r.json", defaultName: "other")
        XCTAssertEqual(r.cells, m.cells)
        XCTAssertEqual(r.name, "t")
        XCTAssertEqual(r.resolvedJSON(), m.resolvedJSON())
        XCTAssertEqual(r.sha256, m.sha256)
    }

    func testErrorsCarryPathsValuesAndAllowedAndAreAllCollected() {
        let errs = issues("""
        {"modle": 1, "eval": {"datasets": ["wikitext2", "c4"], "windows": 0, "ctx": "2048"},
         "calibration": {"dataset": "wikitext2", "n": 1.5},
         "grid": {"weights": ["mxint3"], "acts": ["mxint8"], "blocks": [0, 33], "roundings": ["up"],
                  "recipes": ["rtn", "awq", {"name": "x", "stages": [{"stage": "gptq", "act_order": 1, "foo": 2}, {"stage": "smoothquant", "alpha": 1.5}]},
                              {"name": "y", "stages": [{"stage": "awq"}, {"stage": "gptq"}, {"stage": "awq"}]},
                              {"name": "z", "stages": [{"stage": "gptq"}, {"stage": "sq"}]}]}}
        """)
        let expected = [
            "modle: unknown key",
            "eval.datasets[1]: got \"c4\"; allowed: \"wikitext2\", \"ptb\"",
            "eval.windows: got 0; allowed: a positive integer or \"all\"",
            "eval.ctx: expected an integer, got \"2048\"",
            "calibration.dataset: got \"wikitext2\": calibrating on an evaluation split is not allowed",
            "calibration.n: got 1.5; allowed: an integer in [1, 4096]",
            "grid.weights[0]: got \"mxint3\"; allowed: \"none\", \"mxint8\"",
            "grid.blocks[0]: got 0; allowed: an even block size in [2, 1024]",
            "grid.blocks[1]: got 33; allowed: an even block size in [2, 1024]",
            "grid.roundings[0]: got \"up\"; allowed: \"even\", \"away\", \"stochastic\"",
            "grid.recipes[2].stages[0].foo: unknown key; allowed keys: stage, act_order, damp, block_size",
            "grid.recipes[2].stages[0].act_order: expected true or false, got 1",
            "grid.recipes[2].stages[1].alpha: got 1.5; allowed: a number in [0, 1]",
            "grid.recipes[3].stages[2].stage: stage \"awq\" appears twice in this recipe",
            "grid.recipes[4].stages[1].stage: stage \"smoothquant\" comes after the rounding stage \"gptq\", which must be last",
        ]
        XCTAssertEqual(errs.count, expected.count, errs.joined(separator: "\n"))
        for e in expected { XCTAssertTrue(errs.contains { $0.hasPrefix(e) }, "missing: \(e)\n got: \(errs.joined(separator: "\n"))") }
    }

    func testStructuralErrors() {
        XCTAssertEqual(issues("[1]"), ["(top level): expected an object, got an array"])
        XCTAssertTrue(issues("{\"eval\": {\"datasets\": [\"ptb\"]}}").contains("(top level): missing \"grid\" or \"cells\": a manifest needs one of them"))
        XCTAssertTrue(issues("{\"eval\": {\"datasets\": [\"ptb\"]}, \"grid\": {\"weights\": [\"mxint4\"], \"acts\": [\"none\"], \"recipes\": [\"rtn\"]}, \"cells\": []}")
            .contains("(top level): give either \"grid\" or \"cells\", not both"))
        XCTAssertTrue(issues("{\"eval\": {\"datasets\": [\"ptb\"]}, \"grid\": {\"acts\": [\"none\"], \"recipes\": [\"rtn\"]}}")
            .contains("grid.weights: missing; expected a non-empty array"))
        XCTAssertTrue(issues("{\"eval\": {\"datasets\": [\"ptb\"]}, \"grid\": {\"weights\": \"mxint4\", \"acts\": [\"none\"], \"recipes\": [\"rtn\"]}}")
            .contains("grid.weights: expected an array, got \"mxint4\""))
        XCTAssertTrue(issues("{\"eval\": {\"datasets\": [\"ptb\"]}, \"grid\": {\"weights\": [\"mxint4\", \"MXINT4\"], \"acts\": [\"none\"], \"recipes\": [\"rtn\"]}}")
            .contains("grid.weights[1]: \"mxint4\" is listed twice"))
        XCTAssertTrue(issues("{not json").first!.hasPrefix("(top level): not valid JSON"))
        XCTAssertTrue(issues("{\"eval\": {\"datasets\": [\"ptb\"]}, \"calibration\": {\"seed\": 1}, \"grid\": {\"weights\": [\"mxint4\"], \"acts\": [\"none\"], \"recipes\": [\"rtn\"], \"seeds\": [2]}}")
            .contains { $0.hasPrefix("grid.seeds: seeds are given both here and in calibration.seed") })
    }

    /// AWQ's search sizes: optional stage parameters, validated with the field named, part of the
    /// stage description and manifest identity only when not at the default (so manifests and results
    /// written before they existed keep their sha256 and `stages` column).
    func testAWQSearchSizesIdentityAndValidation() throws {
        func awqManifest(_ stage: String) -> String {
            """
            {"eval": {"datasets": ["ptb"]}, "cells": [{"weights": "mxint4", "acts": "none",
              "recipe": {"name": "a", "stages": [\(stage), {"stage": "gptq"}]}}]}
            """
        }
        let plain = try parse(awqManifest("{\"stage\": \"awq\", \"grid\": 20, \"max_shrink\": 0.5}"))
        XCTAssertEqual(plain.cells[0].recipe.stages[0].description, "awq(grid=20,max_shrink=0.5)")
        XCTAssertFalse(String(decoding: plain.resolvedJSON(), as: UTF8.self).contains("_tokens"))
        // the defaults written out explicitly describe the same computation: same identity
        let explicit = try parse(awqManifest("{\"stage\": \"awq\", \"search_tokens\": 2048, \"clip_tokens\": 512}"))
        XCTAssertEqual(explicit.sha256, plain.sha256)
        XCTAssertEqual(explicit.cells[0].recipe.stages[0].params["search_tokens"], .integer(2048))

        let small = try parse(awqManifest("{\"stage\": \"awq\", \"search_tokens\": 256}"))
        XCTAssertEqual(small.cells[0].recipe.stagesDescription,
                       "awq(grid=20,max_shrink=0.5,search_tokens=256)>gptq(act_order=false,damp=0.01,block_size=128,true_sequential=true)")
        XCTAssertNotEqual(small.sha256, plain.sha256)
        XCTAssertNotEqual(small.cells[0].recipe, plain.cells[0].recipe)
        let both = try parse(awqManifest("{\"stage\": \"awq\", \"search_tokens\": 4096, \"clip_tokens\": 64}"))
        XCTAssertEqual(both.cells[0].recipe.stages[0].description, "awq(grid=20,max_shrink=0.5,search_tokens=4096,clip_tokens=64)")
        // the resolved manifest round-trips the non-default values
        let r = try Manifest.parse(both.resolvedJSON(), file: "r.json", defaultName: "r")
        XCTAssertEqual(r.cells, both.cells)
        XCTAssertEqual(r.sha256, both.sha256)

        let errs = issues("""
        {"eval": {"datasets": ["ptb"]}, "grid": {"weights": ["mxint4"], "acts": ["none"], "recipes": [
          {"name": "a", "stages": [{"stage": "awq", "search_tokens": 0, "clip_tokens": "512"}]},
          {"name": "b", "stages": [{"stage": "awq", "search_tokens": 12.5, "clip_tokens": -3}]},
          {"name": "c", "stages": [{"stage": "awq", "search_token": 64}]}]}}
        """)
        XCTAssertEqual(errs, [
            "grid.recipes[0].stages[0].search_tokens: got 0; allowed: an integer in [1, 1048576]",
            "grid.recipes[0].stages[0].clip_tokens: expected an integer, got \"512\"; allowed: an integer in [1, 1048576]",
            "grid.recipes[1].stages[0].search_tokens: got 12.5; allowed: an integer in [1, 1048576]",
            "grid.recipes[1].stages[0].clip_tokens: got -3; allowed: an integer in [1, 1048576]",
            "grid.recipes[2].stages[0].search_token: unknown key (did you mean \"search_tokens\"?); allowed keys: stage, grid, max_shrink, search_tokens, clip_tokens",
        ])
    }

    func testRecipeShorthandsAndReservedNames() throws {
        let r = JSONChecker()
        XCTAssertEqual(Manifest.parseRecipe("sq+awq+gptq", "p", r)?.stages.map(\.name), ["smoothquant", "awq", "gptq"])
        XCTAssertEqual(Manifest.parseRecipe("rtn", "p", r)?.stages.count, 0)
        XCTAssertTrue(Manifest.parseRecipe("fp32", "p", r)!.isFP32)
        XCTAssertTrue(r.issues.isEmpty)
        XCTAssertEqual(Manifest.parseRecipe("sq+rtn", "p", r)?.stages.map(\.name), ["smoothquant", "rtn"])
        XCTAssertTrue(r.issues.isEmpty)
        XCTAssertNil(Manifest.parseRecipe("gptq+gptq", "p", r))
        XCTAssertNil(Manifest.parseRecipe(["name": "fp32", "stages": [["stage": "gptq"]]], "q", r))
        XCTAssertNil(Manifest.parseRecipe("rtn+gptq", "s", r))
        XCTAssertEqual(r.issues.map(\.path), ["p", "q.stages", "s"])
        XCTAssertTrue(r.issues[2].message.contains("both roundings"), r.issues[2].message)
    }

    func testExplicitCellsValidation() throws {
        let m = try parse("""
        {"eval": {"datasets": ["ptb"]}, "cells": [
          {"recipe": "fp32"},
          {"weights": "mxint4", "acts": "mxint8", "block": 16, "scale_rule": "ceil", "rounding": "stochastic", "recipe": "gptq", "seed": 3}]}
        """)
        XCTAssertEqual(m.cells.map(\.id), ["fp32", "gptq_Wmxint4_Amxint8_b16_ceil_stochastic_s3"])
        XCTAssertEqual(m.cells[1].weightBitsPerElement, 4.5)
        let errs = issues("""
        {"eval": {"datasets": ["ptb"]}, "cells": [
          {"weights": "none", "acts": "mxint8", "recipe": "gptq"},
          {"weights": "mxint4", "acts": "none", "recipe": "rtn"},
          {"weights": "mxint4", "acts": "none", "recipe": "rtn"},
          {"weights": "mxint4", "recipe": "fp32"},
          {"acts": "none", "recipe": "rtn"}]}
        """)
        XCTAssertEqual(errs, [
            "cells[0]: stage \"gptq\" optimizes weight rounding but weights are \"none\"",
            "cells[2]: same cell id \"rtn_Wmxint4_Anone_b32_floor_even_s0\" as cells[1] (duplicate cell, or two recipes sharing a name)",
            "cells[3].weights: got \"mxint4\": the fp32 recipe runs unquantized; allowed: \"none\"",
            "cells[4].weights: missing; allowed: \(Catalog.formatChoices)",
        ])
    }

    func testShippedManifestsAreValid() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("experiments")
        let names = (try FileManager.default.contentsOfDirectory(atPath: dir.path)).filter { $0.hasSuffix(".json") }
        XCTAssertGreaterThanOrEqual(names.count, 4, "\(names)")
        for n in names { XCTAssertNoThrow(try Manifest.load(path: dir.appendingPathComponent(n).path), n) }
    }

    /// The catalog is the format layer's list (names, aliases, bits, storage cost).
    func testCatalogMatchesFormatLayer() {
        XCTAssertEqual(Catalog.formats.map(\.name), ["mxint8", "mxint4", "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1"])
        XCTAssertEqual(Catalog.formats.map(\.bits), [8, 4, 8, 8, 6, 6, 4])
        XCTAssertEqual(Catalog.canonicalFormat("MXFP4"), "mxfp4_e2m1")
        XCTAssertNil(Catalog.canonicalFormat("none"))
        XCTAssertEqual(Catalog.storageBits(format: "mxfp6_e3m2", block: 16), 6.5)
    }

    func testMissingPathsAreErrorsUnlessReadingResults() throws {
        let text = "{\"model\": \"no/such/model.gguf\", \"eval\": {\"datasets\": [\"ptb\"]}, \"calibration\": {\"dataset\": \"no/such.txt\"}, \"cells\": [{\"recipe\": \"fp32\"}]}"
        XCTAssertEqual(issues(text).map { String($0.prefix(while: { $0 != ":" })) }, ["model", "calibration.dataset"])
        let m = try Manifest.parse(Data(text.utf8), file: "t", defaultName: "t", checkFiles: false)
        XCTAssertEqual(m.model, "no/such/model.gguf")
    }

    func testShard() throws {
        let s = try Shard(parsing: "1/3")
        XCTAssertEqual((0..<7).filter(s.contains), [1, 4])
        XCTAssertThrowsError(try Shard(parsing: "3/3"))
        XCTAssertThrowsError(try Shard(parsing: "0/0"))
        XCTAssertThrowsError(try Shard(parsing: "x"))
    }
}
