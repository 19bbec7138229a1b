import Foundation
import XCTest
import Support
@testable import Runtime
import ModelIO

func randomTokens(_ n: Int, vocab: Int, seed: UInt64) -> [Int32] {
    var g = SplitMix64(seed: seed)
    return (0..<n).map { _ in Int32(g.next() % UInt64(vocab)) }
}

/// max |a - b| over the arrays, and max |b|.
func maxAbsDiff(_ a: [Float], _ b: [Double]) -> (diff: Double, scale: Double) {
    precondition(a.count == b.count)
    var d = 0.0, s = 0.0
    for i in 0..<a.count { d = max(d, abs(Double(a[i]) - b[i])); s = max(s, abs(b[i])) }
    return (d, s)
}

final class ForwardTests: XCTestCase {
    func testExpMatchesFoundation() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let got = expScalar(x), want = Float(Foundation.exp(Double(x)))
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(expScalar(0), 1)
        XCTAssertLessThan(expScalar(-.infinity), 1e-37)
        // The vector path and the scalar tail agree lane by lane.
        let v = SIMD16<Float>((0..<16).map { Float($0) * 0.7 - 5 })
        let e = expVector(v)
        for i in 0..<16 { XCTAssertEqual(e[i], expScalar(v[i])) }
    }

    /// rmsNorm's contract, written out: per row, Σ x² as one serial Double chain in column order,
    /// inv = Float(1/√(Σ/n + eps)), y = (x·inv)·w in Float. Same bits for every row, whether the
    /// row goes through the 8-row path or alone (row counts around multiples of 8, ragged n), and
    /// for any thread count.
    func testRMSNormRowsHaveTheSerialChainsBits() {
        var g = SplitMix64(seed: 41)
        func u() -> Float { Float(g.next() >> 40) / Float(1 << 24) * 2 - 1 }
        for (rows, n) in [(1, 5), (7, 9), (8, 16), (9, 33), (23, 64), (40, 17)] {
            // wide dynamic range so that the Double chain's rounding matters
            let x = (0..<(rows * n)).map { i in u() * (i % 7 == 0 ? 300 : 1) }
            let w = (0..<n).map { _ in u() + 1.5 }
            var want = [Float](repeating: 0, count: rows * n)
            for r in 0..<rows {
                var ss = 0.0
                for c in 0..<n { ss += Double(x[r * n + c]) * Double(x[r * n + c]) }
                let inv = Float(1.0 / (ss / Double(n) + 1e-5).squareRoot())
                for c in 0..<n { want[r * n + c] = (x[r * n + c] * inv) * w[c] }
            }
            for threads in [1, 2, 3] {
                var got = [Float](repeating: .nan, count: rows * n)
                x.withUnsafeBufferPointer { X in w.withUnsafeBufferPointer { W in got.withUnsafeMutableBufferPointer { Y in
                    rmsNorm(X.baseAddress!, weight: W.baseAddress!, into: Y.baseAddress!, rows: rows, n: n, eps: 1e-5,
                            threads: threads)
                } } }
                XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "rows \(rows), n \(n), threads \(threads)")
            }
        }
    }

    func testForwardMatchesNaiveReference() {
        // Head dims 8 (GEMM fallback), 16, 64 and 80 (tiled kernels incl. 1-row and 16-column
        // tails); row blocks that do and do not divide T.
        for (cfg, T, rb) in [(LlamaConfig.tiny(), 19, 4),
                             (LlamaConfig.tiny(vocabSize: 31, hiddenSize: 32, intermediateSize: 21, numLayers: 3,
                                               numHeads: 4, numKVHeads: 2, tiedEmbeddings: false), 11, 128),
                             (LlamaConfig.tiny(hiddenSize: 48, numHeads: 3, numKVHeads: 1), 37, 16),
                             (LlamaConfig.tiny(hiddenSize: 32, numLayers: 1, numHeads: 2, numKVHeads: 1), 150, 128),
                             (LlamaConfig.tiny(hiddenSize: 128, numLayers: 1, numHeads: 2, numKVHeads: 1), 45, 128),
                             (LlamaConfig.tiny(hiddenSize: 160, numLayers: 1, numHeads: 2, numKVHeads: 2,
                                               tiedEmbeddings: false), 20, 7)] {
            let tensors = LlamaModel.randomTensors(config: cfg, seed: 7)
            let model = try! LlamaModel(config: cfg, tensor: { tensors[$0] })
            model.attentionRowBlock = rb
            let tokens = randomTokens(T, vocab: cfg.vocabSize, seed: 3)
            let got = model.logits(tokens)
            let want = ReferenceLlama(c: cfg, t: tensors).logits(tokens).flatMap { $0 }
            let (d, s) = maxAbsDiff(got, want)
            XCTAssertGreaterThan(s, 1)
            XCTAssertLessThan(d, 2e-5 * s, "logits differ from the reference by \(d) (scale \(s))")
        }
    }

    func testGGUFInterleavedLayoutGivesSameLogitsAsHFHalves() {
        let hf = LlamaConfig.tiny(numHeads: 3, numKVHeads: 1)
        var gg = hf
        gg.ropeLayout = .interleaved
        let t = LlamaModel.randomTensors(config: hf, seed: 11)
        var tg = t
        for i in 0..<hf.numLayers {
            let p = "model.layers.\(i).self_attn."
            tg[p + "q_proj.weight"] = RopeLayout.permuteHalvesToInterleaved(t[p + "q_proj.weight"]!, heads: hf.numHeads, cols: hf.hiddenSize)
            tg[p + "k_proj.weight"] = RopeLayout.permuteHalvesToInterleaved(t[p + "k_proj.weight"]!, heads: hf.numKVHeads, cols: hf.hiddenSize)
        }
        let tokens = randomTokens(23, vocab: hf.vocabSize, seed: 5)
        let a = try! LlamaModel(config: hf, tensor: { t[$0] }).logits(tokens)
        let b = try! LlamaModel(config: gg, tensor: { tg[$0] }).logits(tokens)
        let (d, s) = maxAbsDiff(b, a.map(Double.init))
        XCTAssertLessThan(d, 1e-5 * s)
        // The permutation matters: GGUF-ordered weights with the HF pairing give different logits.
        let wrong = try! LlamaModel(config: hf, tensor: { tg[$0] }).logits(tokens)
        XCTAssertGreaterThan(maxAbsDiff(wrong, a.map(Double.init)).diff, 1e-2 * s)
    }

    func testCausalMaskEarlierOutputsIgnoreLaterTokens() {
        for cfg in [LlamaConfig.tiny(), LlamaConfig.tiny(hiddenSize: 48)] { checkCausal(cfg) }
    }

    func checkCausal(_ cfg: LlamaConfig) {
        let model = LlamaModel.random(config: cfg, seed: 2)
        model.attentionRowBlock = 5
        let T = 17, cut = 9
        let a = randomTokens(T, vocab: cfg.vocabSize, seed: 1)
        var b = a
        for t in cut..<T { b[t] = Int32((Int(a[t]) + 1 + t) % cfg.vocabSize) }
        let la = model.logits(a), lb = model.logits(b)
        let V = cfg.vocabSize
        var before: Float = 0, after: Float = 0
        for i in 0..<(cut * V) { before = max(before, abs(la[i] - lb[i])) }
        for i in (cut * V)..<(T * V) { after = max(after, abs(la[i] - lb[i])) }
        XCTAssertEqual(before, 0, "positions before \(cut) changed when later tokens changed")
        XCTAssertGreaterThan(after, 1e-3)
        // A prefix run gives the same outputs as the first rows of the full run.
        let lp = model.logits(Array(a[0..<cut]))
        var prefixDiff: Float = 0
        for i in 0..<(cut * V) { prefixDiff = max(prefixDiff, abs(lp[i] - la[i])) }
        XCTAssertLessThan(prefixDiff, 1e-4)
    }

    func testSameResultForAnyThreadCount() {
        for cfg in [LlamaConfig.tiny(numLayers: 1), LlamaConfig.tiny(hiddenSize: 48, numLayers: 1)] {
            let model = LlamaModel.random(config: cfg, seed: 9)
            model.attentionRowBlock = 3
            let tokens = randomTokens(21, vocab: cfg.vocabSize, seed: 4)
            model.threads = 1
            let one = model.logits(tokens)
            model.threads = 3
            let three = model.logits(tokens)
            XCTAssertEqual(one, three)
        }
    }

    func testTokenNLLMatchesReferenceAndChunking() {
        let cfg = LlamaConfig.tiny()
        let t = LlamaModel.randomTensors(config: cfg, seed: 21)
        let model = try! LlamaModel(config: cfg, tensor: { t[$0] })
        let tokens = randomTokens(14, vocab: cfg.vocabSize, seed: 8)
        let want = ReferenceLlama(c: cfg, t: t).nll(tokens)
        let hidden = model.hiddenStates(tokens)
        for chunk in [1, 4, 100] {
            model.nllChunkRows = chunk
            let got = model.tokenNLL(hidden: hidden, tokens: tokens)
            XCTAssertEqual(got.count, tokens.count - 1)
            for i in 0..<got.count { XCTAssertEqual(got[i], want[i], accuracy: 1e-4) }
        }
    }

    /// KL(reference ‖ model) per row against the float64 reference forward of two random models
    /// (softmaxes and the KL sum in Double); the NLL half is tokenNLL bit for bit; a model against
    /// its own reference has KL ≈ 0; chunking does not change anything.
    func testTokenNLLAndKLMatchReference() {
        let cfg = LlamaConfig.tiny()
        let tp = LlamaModel.randomTensors(config: cfg, seed: 21), tq = LlamaModel.randomTensors(config: cfg, seed: 22)
        let mp = try! LlamaModel(config: cfg, tensor: { tp[$0] }), mq = try! LlamaModel(config: cfg, tensor: { tq[$0] })
        let tokens = randomTokens(13, vocab: cfg.vocabSize, seed: 3)
        func logSoftmax(_ z: [Double]) -> [Double] {
            let m = z.max()!, lz = Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - m) }) + m
            return z.map { $0 - lz }
        }
        let lp = ReferenceLlama(c: cfg, t: tp).logits(tokens).map(logSoftmax), lq = ReferenceLlama(c: cfg, t: tq).logits(tokens).map(logSoftmax)
        let ref = mp.nextTokenReference(hidden: mp.hiddenStates(tokens), seqLen: tokens.count)
        XCTAssertEqual(ref.rows, tokens.count - 1)
        let hq = mq.hiddenStates(tokens), V = cfg.vocabSize
        let logitsP = mp.logits(tokens), logitsQ = mq.logits(hidden: hq, seqLen: tokens.count)
        XCTAssertEqual(ref.logits, Array(logitsP[0..<(ref.rows * V)]))
        for chunk in [1, 5, 100] {
            mq.nllChunkRows = chunk
            let r = mq.tokenNLLAndKL(hidden: hq, tokens: tokens, reference: ref)
            XCTAssertEqual(r.nll, mq.tokenNLL(hidden: hq, tokens: tokens))
            XCTAssertEqual(r.kl.count, tokens.count - 1)
            for t in 0..<r.kl.count {
                // float64 forward: as close as the float32 forward's logits allow
                let want = zip(lp[t], lq[t]).reduce(0.0) { $0 + Foundation.exp($1.0) * ($1.0 - $1.1) }
                XCTAssertGreaterThan(want, 1e-5)
                XCTAssertEqual(r.kl[t], want, accuracy: 2e-5)
                // the same float32 logits, KL summed in Double: the KL arithmetic itself
                let fp = logSoftmax(Array(logitsP[(t * V)..<((t + 1) * V)]).map(Double.init))
                let fq = logSoftmax(Array(logitsQ[(t * V)..<((t + 1) * V)]).map(Double.init))
                let exact = zip(fp, fq).reduce(0.0) { $0 + Foundation.exp($1.0) * ($1.0 - $1.1) }
                XCTAssertEqual(r.kl[t], exact, accuracy: 1e-7 + 1e-5 * exact)
            }
        }
        let own = mp.tokenNLLAndKL(hidden: mp.hiddenStates(tokens), tokens: tokens, reference: ref)
        for k in own.kl { XCTAssertEqual(k, 0, accuracy: 1e-6) }
    }

    func testObserverSeesEveryLinearInForwardOrder() {
        let cfg = LlamaConfig.tiny()
        let model = LlamaModel.random(config: cfg, seed: 4)
        let T = 6
        var seen: [String] = []
        var firstQInput: [Float] = []
        model.inputObserver = { lin, x, m in
            XCTAssertEqual(m, T)
            XCTAssertEqual(x.count, m * lin.inFeatures)
            if lin.name == "layers.0.self_attn.q_proj" { firstQInput = Array(x) }
            seen.append(lin.name)
        }
        _ = model.logits(randomTokens(T, vocab: cfg.vocabSize, seed: 1))
        XCTAssertEqual(seen, model.linears.map(\.name))
        XCTAssertEqual(seen.count, 7 * cfg.numLayers + 1)
        XCTAssertEqual(seen[6], "layers.0.mlp.down_proj")
        XCTAssertTrue(model.linear(named: "layers.1.mlp.up_proj") === model.blocks[1].upProj)
        XCTAssertNil(model.linear(named: "layers.2.mlp.up_proj"))
        // The first q_proj input is RMSNorm(embedding) — check one row by hand.
        let tokens = randomTokens(T, vocab: cfg.vocabSize, seed: 1)
        let h = cfg.hiddenSize
        let e = Array(model.embedding[(Int(tokens[2]) * h)..<(Int(tokens[2]) * h + h)])
        let rms = (e.map { Double($0 * $0) }.reduce(0, +) / Double(h) + 1e-5).squareRoot()
        for c in 0..<h {
            XCTAssertEqual(firstQInput[2 * h + c], Float(Double(e[c]) / rms) * model.blocks[0].inputNorm[c], accuracy: 1e-5)
        }
    }

    func testReplacingWeightsThroughHooks() {
        // With every o_proj and down_proj zeroed the blocks are identities, so the logits are
        // lm_head(RMSNorm(embedding)) — computed here by hand.
        let cfg = LlamaConfig.tiny(tiedEmbeddings: true)
        let model = LlamaModel.random(config: cfg, seed: 13)
        for l in model.linears where l.name.hasSuffix("o_proj") || l.name.hasSuffix("down_proj") {
            l.weight = [Float](repeating: 0, count: l.weight.count)
        }
        let tokens: [Int32] = [3, 0, 49]
        let got = model.logits(tokens)
        let h = cfg.hiddenSize, V = cfg.vocabSize
        for (t, id) in tokens.enumerated() {
            let e = (0..<h).map { Double(model.embedding[Int(id) * h + $0]) }
            let r = 1 / (e.map { $0 * $0 }.reduce(0, +) / Double(h) + 1e-5).squareRoot()
            let xn = (0..<h).map { e[$0] * r * Double(model.finalNorm[$0]) }
            for v in 0..<V {
                var s = 0.0
                for c in 0..<h { s += xn[c] * Double(model.embedding[v * h + c]) }
                XCTAssertEqual(Double(got[t * V + v]), s, accuracy: 1e-4)
            }
        }
        // Tied LM head: changing its weights leaves the embedding untouched.
        let before = model.embedding
        model.lmHead.weight = [Float](repeating: 1, count: model.lmHead.weight.count)
        XCTAssertEqual(model.embedding, before)
    }

    func testBadCheckpointsGiveTypedErrors() {
        let cfg = LlamaConfig.tiny()
        var t = LlamaModel.randomTensors(config: cfg, seed: 1)
        t["model.layers.1.mlp.up_proj.weight"] = nil
        XCTAssertThrowsError(try LlamaModel(config: cfg, tensor: { t[$0] })) { e in
            XCTAssertEqual(e as? RuntimeError, .missingTensor("model.layers.1.mlp.up_proj.weight"))
            XCTAssertTrue("\(e)".contains("model.layers.1.mlp.up_proj.weight"))
        }
        t = LlamaModel.randomTensors(config: cfg, seed: 1)
        t["model.layers.0.self_attn.k_proj.weight"] = [Float](repeating: 0, count: 5)
        XCTAssertThrowsError(try LlamaModel(config: cfg, tensor: { t[$0] })) { e in
            XCTAssertEqual(e as? RuntimeError, .tensorShape("model.layers.0.self_attn.k_proj.weight", "8×24", 5))
            XCTAssertTrue("\(e)".contains("192 values"), "\(e)")
        }
        var bad = cfg
        bad.numKVHeads = 2
        XCTAssertThrowsError(try LlamaModel(config: bad, tensor: { t[$0] })) { e in
            XCTAssertTrue("\(e)".contains("num_key_value_heads"), "\(e)")
        }
    }
}

/// `klRow` against a float64 KL of the same float rows: random logit rows (vocabulary sizes that are
/// not multiples of 16 or of the 1024-element run), perturbations from tiny (Taylor branch) to large.
final class KLRowTests: XCTestCase {
    func testKLRowMatchesFloat64() {
        var g = SplitMix64(seed: 11)
        for n in [1, 15, 50, 1000, 3001] {
            for scale: Float in [1e-4, 1e-2, 0.3, 3] {
                let a = (0..<n).map { _ in g.nextGaussian() * 2 }
                // a common shift of all logits (softmax-invariant) plus the perturbation
                let b = zip(a, (0..<n).map { _ in g.nextGaussian() }).map { $0 + 7 + scale * $1 }
                let m = Double(a.max()!), lz = Foundation.log(a.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }) + m
                let p = a.map { Float(Foundation.exp(Double($0) - lz)) }
                let mb = Double(b.max()!), lzb = Foundation.log(b.reduce(0.0) { $0 + Foundation.exp(Double($1) - mb) }) + mb
                let want = (0..<n).reduce(0.0) { acc, v in
                    let la = Double(a[v]) - lz, lb = Double(b[v]) - lzb
                    return acc + Foundation.exp(la) * (la - lb)
                }
                let got = p.withUnsafeBufferPointer { pp in a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in
                    klRow(pp.baseAddress!, ap.baseAddress!, bp.baseAddress!, n) } } }
                XCTAssertEqual(got, want, accuracy: 1e-10 + 1e-4 * abs(want), "n \(n) scale \(scale)")
            }
        }
    }
}
