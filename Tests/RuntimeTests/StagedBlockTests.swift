import XCTest
import Support
import MXFormats
@testable import Runtime

/// `forwardBlockStaged` (true-sequential calibration): the same results as `forwardBlock`,
/// each linear's input shown once, and changes made between sweeps seen by later sweeps.
final class StagedBlockTests: XCTestCase {
    // grouped-query (4 heads over 2 KV heads), head dim 16 (tiled attention), T not a multiple of 16
    let cfg = LlamaConfig.tiny(vocabSize: 40, hiddenSize: 64, intermediateSize: 80, numLayers: 2, numHeads: 4, numKVHeads: 2)

    func model() -> LlamaModel {
        let t = LlamaModel.randomTensors(config: cfg, seed: 11)
        let m = try! LlamaModel(config: cfg, tensor: { t[$0] })
        m.blocks[1].kProj.actQuant = MXConfig(format: .mxint8)     // observers see quantized copies here
        m.blocks[1].downProj.actQuant = MXConfig(format: .mxfp4_e2m1)
        return m
    }

    func inputs(_ m: LlamaModel, T: Int) -> [[Float]] {
        (0..<3).map { s in
            var h = m.embed(randomTokens(T, vocab: cfg.vocabSize, seed: UInt64(s + 1)))
            m.forwardBlock(0, hidden: &h, seqLen: T)
            return h
        }
    }

    /// Observed inputs per sequence of one `forwardBlock` call: [(linear name, input)] in call order.
    func observedForward(_ m: LlamaModel, _ h: [Float], T: Int) -> (out: [Float], seen: [(String, [Float])]) {
        var seen: [(String, [Float])] = []
        m.inputObserver = { lin, buf, _ in seen.append((lin.name, Array(buf))) }
        defer { m.inputObserver = nil }
        var x = h
        m.forwardBlock(1, hidden: &x, seqLen: T)
        return (x, seen)
    }

    func testStagedEqualsForwardBlockAndShowsEachInputOnce() {
        let m = model()
        let T = 21
        let hs = inputs(m, T: T)
        let want = hs.map { observedForward(m, $0, T: T) }
        var seen: [(String, [Float])] = []
        m.inputObserver = { lin, buf, rows in
            XCTAssertEqual(rows, T)
            seen.append((lin.name, Array(buf)))
        }
        var points: [BlockInputPoint] = []
        var got = hs
        m.forwardBlockStaged(1, hidden: &got, seqLen: T) { points.append($0) }
        m.inputObserver = nil
        XCTAssertEqual(points, BlockInputPoint.allCases)
        for s in 0..<hs.count { XCTAssertEqual(got[s], want[s].out, "sequence \(s): staged output differs from forwardBlock") }
        // every linear's input once per sequence, equal to what forwardBlock shows it
        XCTAssertEqual(seen.count, 7 * hs.count)
        for (name, x) in seen {
            let matches = (0..<hs.count).filter { s in want[s].seen.contains { $0.0 == name && $0.1 == x } }
            XCTAssertEqual(matches.count, 1, "\(name): observed input not one of forwardBlock's")
        }
        // a second call reuses the kept buffers and gives the same result
        var again = hs
        m.forwardBlockStaged(1, hidden: &again, seqLen: T) { _ in }
        XCTAssertEqual(again, got)
        // silu(gate)·up recomputed instead of kept (no budget): the same bits
        m.stagedKeepBytes = 0
        var recomputed = hs
        m.forwardBlockStaged(1, hidden: &recomputed, seqLen: T) { _ in }
        XCTAssertEqual(recomputed, got)
    }

    /// `observeBlockRows` shows each linear, once, the rows `observeBlock` shows it at the chosen
    /// positions, bit for bit, sequence by sequence: tiled attention (head dim 16) over several
    /// key panels, P·V chunks and row blocks, with and without biases; the GEMM fallback (head
    /// dim 12); activation-quantized copies; 9 to 18 rows.
    func testObserveBlockRowsEqualsObserveBlockAtThoseRows() {
        let biased = LlamaConfig.tiny(vocabSize: 40, hiddenSize: 64, intermediateSize: 80, numLayers: 2, numHeads: 4,
                                      numKVHeads: 2, qkvBias: true, outputBias: true)
        let head12 = LlamaConfig.tiny(vocabSize: 40, hiddenSize: 48, intermediateSize: 72, numLayers: 2, numHeads: 4,
                                      numKVHeads: 2, qkvBias: true, outputBias: true)
        for (c, T, rows) in [(cfg, 150, [0, 5, 6, 70, 129, 149]), (biased, 150, [3, 64, 127, 128, 140]),
                             (head12, 21, [2, 11, 19])] {
            let t = LlamaModel.randomTensors(config: c, seed: 5)
            let m = try! LlamaModel(config: c, tensor: { t[$0] })
            m.blocks[1].kProj.actQuant = MXConfig(format: .mxint8)
            m.blocks[1].downProj.actQuant = MXConfig(format: .mxfp4_e2m1)
            let hs: [[Float]] = (0..<3).map { s in
                var h = m.embed(randomTokens(T, vocab: c.vocabSize, seed: UInt64(s + 1)))
                m.forwardBlock(0, hidden: &h, seqLen: T)
                return h
            }
            var want: [String: [UInt32]] = [:]
            m.inputObserver = { lin, buf, n in
                XCTAssertEqual(n, T)
                for r in rows { want[lin.name, default: []] += buf[(r * lin.inFeatures)..<((r + 1) * lin.inFeatures)].map(\.bitPattern) }
            }
            for h in hs { var x = h; m.observeBlock(1, hidden: &x, seqLen: T) }
            var got: [String: [UInt32]] = [:]
            m.inputObserver = { lin, buf, n in
                XCTAssertEqual(n, hs.count * rows.count)
                XCTAssertNil(got[lin.name], "\(lin.name) shown twice")
                got[lin.name] = buf.map(\.bitPattern)
            }
            m.observeBlockRows(1, hidden: hs, seqLen: T, rows: rows)
            m.inputObserver = nil
            XCTAssertEqual(got.count, 7)
            for (name, x) in want {
                let g = got[name] ?? []
                if let d = (0..<min(g.count, x.count)).first(where: { g[$0] != x[$0] }) ?? (g.count == x.count ? nil : min(g.count, x.count)) {
                    XCTFail("\(name), head dim \(c.headDim), T = \(T): value \(d) of \(x.count) differs")
                }
            }
        }
    }

    /// Weights changed at a point are used from there on: the result is forwardBlock with the
    /// final weights, and o's observed input is the attention output of the changed q/k/v.
    func testChangesBetweenSweepsAreSeenLater() {
        for budget in [0, 2 << 30] { changesBetweenSweepsAreSeenLater(keepBytes: budget) }
    }

    func changesBetweenSweepsAreSeenLater(keepBytes: Int) {
        let m = model(), ref = model()
        m.stagedKeepBytes = keepBytes
        let T = 18
        let hs = inputs(m, T: T)
        let b = m.blocks[1], rb = ref.blocks[1]
        func perturb(_ l: Linear, _ f: Float) { l.weight = l.weight.enumerated().map { $0.1 * (1 + f * Float($0.0 % 5 - 2)) } }
        var oInputs: [[Float]] = []
        m.inputObserver = { lin, buf, _ in if lin.name == b.oProj.name { oInputs.append(Array(buf)) } }
        var got = hs
        m.forwardBlockStaged(1, hidden: &got, seqLen: T) { p in
            switch p {
            case .attentionInput: perturb(b.qProj, 0.3); perturb(b.vProj, 0.2); b.qProj.actQuant = MXConfig(format: .mxint4)
            case .attentionOutput: perturb(b.oProj, 0.25)
            case .mlpInput: perturb(b.gateProj, 0.2); perturb(b.upProj, 0.1)
            case .mlpActivation: perturb(b.downProj, 0.3)
            }
        }
        m.inputObserver = nil
        for l in [rb.qProj, rb.vProj, rb.oProj, rb.gateProj, rb.upProj, rb.downProj] {
            l.weight = m.linear(named: l.name)!.weight
        }
        rb.qProj.actQuant = MXConfig(format: .mxint4)
        XCTAssertNotEqual(rb.qProj.weight, ref.blocks[0].qProj.weight)
        for s in 0..<hs.count {
            let w = observedForward(ref, hs[s], T: T)
            XCTAssertEqual(got[s], w.out, "sequence \(s): not forwardBlock with the final weights")
            XCTAssertEqual(oInputs[s], w.seen.first { $0.0 == rb.oProj.name }!.1, "o_proj must see the changed q/k/v's attention")
        }
        // and the unchanged model gives something else
        let plain = model()
        var x = hs[0]
        plain.forwardBlock(1, hidden: &x, seqLen: T)
        XCTAssertNotEqual(x, got[0])
    }
}
