// A deliberately naive scalar Llama forward pass in Double (plain loops, Hugging Face
// RoPE pairing (x[i], x[i+d/2])), written independently of Runtime's implementation.
import Foundation
@testable import Runtime

struct ReferenceLlama {
    let c: LlamaConfig
    let t: [String: [Float]]

    func w(_ name: String) -> [Double] { t[name]!.map(Double.init) }

    /// W·x + b with the bias `<proj>.bias` when the tensors have one (HF nn.Linear(bias=True)).
    func affine(_ proj: String, _ x: [Double], rows: Int) -> [Double] {
        var y = matvec(w(proj + ".weight"), x, rows: rows)
        if let b = t[proj + ".bias"] { for i in 0..<rows { y[i] += Double(b[i]) } }
        return y
    }

    /// Inverse frequency of rotation pair i (of d/2), written from the Hugging Face definitions:
    /// default θ^(−2i/d); linear: divided by the factor; llama3: by wavelength 2π/f, long
    /// wavelengths (> orig/low) divided by the factor, short ones (< orig/high) kept, and in between
    /// s = (orig/wavelength − low)/(high − low) blends f/factor (weight 1−s) with f (weight s).
    func inverseFrequency(_ i: Int, d: Int) -> Double {
        let f = 1 / pow(c.ropeTheta, Double(2 * i) / Double(d))
        switch c.ropeScaling {
        case .none: return f
        case .linear(let factor): return f / factor
        case let .llama3(factor, low, high, orig):
            let wl = 2 * Double.pi / f
            if wl < Double(orig) / high { return f }
            if wl > Double(orig) / low { return f / factor }
            let s = (Double(orig) / wl - low) / (high - low)
            return (1 - s) * (f / factor) + s * f
        }
    }

    /// y[n] = Σ_k W[n,k] x[k]
    func matvec(_ W: [Double], _ x: [Double], rows: Int) -> [Double] {
        let k = x.count
        var y = [Double](repeating: 0, count: rows)
        for n in 0..<rows { var s = 0.0; for j in 0..<k { s += W[n * k + j] * x[j] }; y[n] = s }
        return y
    }

    func rmsNorm(_ x: [Double], _ g: [Double]) -> [Double] {
        var ms = 0.0
        for v in x { ms += v * v }
        ms /= Double(x.count)
        let r = 1 / (ms + Double(c.rmsNormEps)).squareRoot()
        return (0..<x.count).map { x[$0] * r * g[$0] }
    }

    /// HF rotate_half RoPE on one head vector at position pos.
    func rope(_ x: [Double], pos: Int) -> [Double] {
        let d = x.count, half = d / 2
        var y = x
        for i in 0..<half {
            let freq = inverseFrequency(i, d: d)
            let a = Double(pos) * freq
            y[i] = x[i] * cos(a) - x[i + half] * sin(a)
            y[i + half] = x[i + half] * cos(a) + x[i] * sin(a)
        }
        return y
    }

    /// Logits [T][vocab].
    func logits(_ tokens: [Int32]) -> [[Double]] {
        let T = tokens.count, h = c.hiddenSize, d = c.headDim
        let E = w("model.embed_tokens.weight")
        var x: [[Double]] = tokens.map { id in Array(E[(Int(id) * h)..<(Int(id) * h + h)]) }
        for l in 0..<c.numLayers {
            let p = "model.layers.\(l)."
            var q: [[Double]] = [], k: [[Double]] = [], v: [[Double]] = []
            for t in 0..<T {
                let xn = rmsNorm(x[t], w(p + "input_layernorm.weight"))
                q.append(affine(p + "self_attn.q_proj", xn, rows: c.numHeads * d))
                k.append(affine(p + "self_attn.k_proj", xn, rows: c.numKVHeads * d))
                v.append(affine(p + "self_attn.v_proj", xn, rows: c.numKVHeads * d))
            }
            var attnOut = [[Double]](repeating: [Double](repeating: 0, count: c.numHeads * d), count: T)
            for head in 0..<c.numHeads {
                let kvh = head / (c.numHeads / c.numKVHeads)
                for t in 0..<T {
                    let qv = rope(Array(q[t][(head * d)..<(head * d + d)]), pos: t)
                    var scores: [Double] = []
                    for s in 0...t {
                        let kv = rope(Array(k[s][(kvh * d)..<(kvh * d + d)]), pos: s)
                        var dot = 0.0
                        for e in 0..<d { dot += qv[e] * kv[e] }
                        scores.append(dot / Double(d).squareRoot())
                    }
                    let m = scores.max()!
                    let ex = scores.map { exp($0 - m) }
                    let z = ex.reduce(0, +)
                    for e in 0..<d {
                        var acc = 0.0
                        for s in 0...t { acc += ex[s] / z * v[s][kvh * d + e] }
                        attnOut[t][head * d + e] = acc
                    }
                }
            }
            for t in 0..<T {
                let o = affine(p + "self_attn.o_proj", attnOut[t], rows: h)
                for i in 0..<h { x[t][i] += o[i] }
                let xn = rmsNorm(x[t], w(p + "post_attention_layernorm.weight"))
                let g = matvec(w(p + "mlp.gate_proj.weight"), xn, rows: c.intermediateSize)
                let u = matvec(w(p + "mlp.up_proj.weight"), xn, rows: c.intermediateSize)
                let a = (0..<g.count).map { g[$0] / (1 + exp(-g[$0])) * u[$0] }
                let dn = matvec(w(p + "mlp.down_proj.weight"), a, rows: h)
                for i in 0..<h { x[t][i] += dn[i] }
            }
        }
        let head = c.tiedEmbeddings ? E : w("lm_head.weight")
        return x.map { matvec(head, rmsNorm($0, w("model.norm.weight")), rows: c.vocabSize) }
    }

    /// -log softmax(logits[t])[tokens[t+1]] for t in 0..<T-1.
    func nll(_ tokens: [Int32]) -> [Double] {
        let L = logits(tokens)
        return (0..<(tokens.count - 1)).map { t in
            let m = L[t].max()!
            let lse = log(L[t].map { exp($0 - m) }.reduce(0, +)) + m
            return lse - L[t][Int(tokens[t + 1])]
        }
    }
}
