import XCTest
import MXFormats
import PTQ
@testable import Experiments

/// The manifest → PTQ mapping of the real runner (the model run itself is the release-built smoke sweep).
final class RealRunnerTests: XCTestCase {
    func testRecipeAndOptionsMapping() throws {
        let m = try Manifest.parse(Data("""
        {"eval": {"datasets": ["ptb"]}, "cells": [
          {"weights": "mxfp4", "acts": "mxint8", "block": 16, "scale_rule": "ceil", "rounding": "away", "seed": 5,
           "recipe": {"name": "all", "stages": [{"stage": "sq", "alpha": 0.75}, {"stage": "awq", "grid": 10, "max_shrink": 0.25},
                                                {"stage": "gptq", "act_order": true, "damp": 0.05, "block_size": 64, "true_sequential": false}]}}]}
        """.utf8), file: "m", defaultName: "m")
        let cell = m.cells[0]
        let (recipe, o) = RealRunner.ptqRecipe(cell)
        XCTAssertEqual(recipe.stages, [.smoothQuant(alpha: 0.75), .awq, .gptq(actOrder: true)])
        XCTAssertEqual(o.awq.gridPoints, 10)
        XCTAssertEqual(o.awq.maxShrink, 0.25)
        XCTAssertEqual(o.gptq.percDamp, 0.05)
        XCTAssertEqual(o.gptq.blockSize, 64)
        XCTAssertTrue(o.gptq.actOrder)
        XCTAssertFalse(o.gptq.trueSequential)
        let (w, a) = try RealRunner.configs(cell)
        XCTAssertEqual(w, MXConfig(format: .mxfp4_e2m1, block: 16, scaleRule: .ceil, rounding: .away))
        XCTAssertEqual(a, MXConfig(format: .mxint8, block: 16, scaleRule: .ceil, rounding: .away))
        // defaults of the catalog reach PTQ unchanged
        let d = RealRunner.ptqRecipe(Cell(weights: "mxint4", acts: nil, recipe: CellRecipe(name: "g", stages: [RecipeStage(name: "gptq")])))
        XCTAssertEqual(d.1.gptq, GPTQOptions())
        XCTAssertTrue(d.1.gptq.trueSequential)
        let dAWQ = RealRunner.ptqRecipe(Cell(weights: "mxint4", acts: nil, recipe: CellRecipe(name: "a", stages: [RecipeStage(name: "awq")])))
        XCTAssertEqual(dAWQ.1.awq, AWQOptions())
        XCTAssertEqual(dAWQ.1.recordTokens, PTQOptions().recordTokens)
        // AWQ search sizes: set as given; a search larger than the pipeline's per-layer sample enlarges the sample
        for (search, clip, record) in [(256, 64, PTQOptions().recordTokens), (8192, 1024, 8192)] {
            let o = RealRunner.ptqRecipe(Cell(weights: "mxint4", acts: nil, recipe: CellRecipe(name: "a", stages: [
                RecipeStage(name: "awq", params: ["search_tokens": .integer(search), "clip_tokens": .integer(clip)])]))).1
            XCTAssertEqual(o.awq.searchTokens, search)
            XCTAssertEqual(o.awq.clipTokens, clip)
            XCTAssertEqual(o.recordTokens, record)
        }
        XCTAssertEqual(RealRunner.ptqRecipe(Cell(weights: "mxint4", acts: nil, recipe: CellRecipe(name: "rtn", stages: []))).0.effectiveStages, [.rtn])
    }
}
