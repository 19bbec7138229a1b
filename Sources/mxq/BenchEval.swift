import Foundation
import Support
import MXKernels
import Runtime
import Experiments

/// Help text for `mxq bench eval`.
let benchEvalHelp = """
mxq bench eval [--ctx N] [--reps R] [--cpu-time] [--dataset wikitext2|ptb] [--model PATH]

Evaluates the first window (--ctx tokens, default 2048) of the dataset (default wikitext2)
on the shipped model three ways in one run: fp32; W4A8 MXINT (MXINT4 weights, MXINT8
activations, block 32, RTN) fake-quant (fp32 dequantized weights, inputs quantized and
dequantized, fp32 GEMM); and the same model packed on the integer MX × MX kernels (what a
sweep runs by default), also with each linear quantizing its input itself instead of once
per input point (q/k/v share one, gate/up another; must give the same NLL bit for bit). The paths are timed alternately within every repetition, after one
warm-up evaluation each (so machine load hits every path alike). Printed per path: the best
and the median seconds, tokens/s (ctx / best seconds), the ratios to fp32 (best and
median), the PPL; then the packed vs fake-quant relative PPL difference (must be ≤ 1e-5,
else the command fails) and the integer kernel path of this build.

  --ctx N          window length in tokens (default 2048)
  --reps R         timed repetitions per path (default 3)
  --cpu-time       time with the process's CPU clock / threads instead of the wall clock
                   (robust to other jobs on a loaded machine; idle waits are not counted)
  --dataset D      wikitext2 (default) or ptb
  --model PATH     another GGUF file or checkpoint folder (default: the shipped SmolLM2-135M)
  --threads T      (global) thread count
"""

private struct BenchEvalFailure: UserFacingError {
    let description: String
}

func runBenchEval(_ args: inout Args) throws {
    let ctx = try args.int("--ctx") ?? 2048
    let reps = try args.int("--reps") ?? 3
    let cpuTime = args.flag("--cpu-time")
    let dataset = try args.option("--dataset") ?? "wikitext2"
    let model = try args.option("--model")
    try args.finish()
    guard reps >= 1 else { throw UsageError("bench eval: --reps must be at least 1, got \(reps)") }
    let T = Parallel.defaultThreads
    func clock() -> Double {
        guard cpuTime else { return monotonicSeconds() }
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return (Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9) / Double(T)
    }

    print("mxq bench eval")
    print("cpu: \(CPUInfo.model)")
    print("threads: \(T)   gemm tile: \(CPUInfo.gemmTile)   load average: \(loadAverage())")
    print("integer MX × MX path (compile time): \(IntMXPath.build.name)" + (IntMXPath.build == .portable && IntMXPath.vnni.isSupported
          ? " (this CPU has AVX-512 VNNI: `make build` compiles the C kernels for it)" : ""))
    let t0 = monotonicSeconds()
    let setup = try EvalBenchSetup(model: model, dataset: dataset, ctx: ctx)
    print("model: \(setup.modelPath.lastPathComponent)   window: \(dataset) tokens 0..<\(ctx)   prepared in \(formatDuration(monotonicSeconds() - t0))")
    print("path column (as a sweep names it): packed → \(setup.packedPath) (\(setup.packedCount) of \(setup.quantized.linears.count) linears packed; lm_head stays fp32), fake-quant → \(setup.fakeQuantPath)")
    print("timing: " + (cpuTime ? "process CPU time / \(T)" : "wall clock") + "; \(reps) repetition(s), paths alternating, after one warm-up each")
    print("")

    struct Side { let name: String; let model: LlamaModel; let packed: Bool; var share = true }
    let sides = [Side(name: "fp32", model: setup.fp32, packed: false),
                 Side(name: "fake-quant W4A8 MXINT RTN", model: setup.quantized, packed: false),
                 Side(name: "packed W4A8 MXINT RTN", model: setup.quantized, packed: true),
                 Side(name: "  same, X quantized per linear", model: setup.quantized, packed: true, share: false)]
    var nll = [Double](repeating: .nan, count: sides.count)
    var secs = [[Double]](repeating: [], count: sides.count)
    let progress = ProgressReporter("bench eval", total: (reps + 1) * sides.count)
    for rep in 0...reps {
        for (i, s) in sides.enumerated() {
            setup.setPacked(s.packed)
            s.model.shareActivationQuantization = s.share
            let a = clock()
            let r = try evaluatePerplexity(model: s.model, tokens: setup.window, ctx: ctx, windows: 1)
            let dt = clock() - a
            if rep == 0 {
                nll[i] = r.nll
            } else {
                secs[i].append(dt)
                if r.nll.bitPattern != nll[i].bitPattern {
                    throw BenchEvalFailure(description: "bench eval: \(s.name): NLL \(r.nll) in repetition \(rep), \(nll[i]) before; evaluation is not deterministic")
                }
            }
            progress.advance(detail: s.name)
        }
    }
    progress.finish()
    setup.setPacked(false)
    setup.quantized.shareActivationQuantization = true

    func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    let best = secs.map { $0.min()! }, med = secs.map(median)
    print(pad("path", 32) + lpad("s best", 9) + lpad("s median", 10) + lpad("tokens/s", 10) + lpad("×fp32", 7)
          + lpad("×fp32 med", 10) + lpad("PPL", 12))
    for (i, s) in sides.enumerated() {
        print(pad(s.name, 32) + lpad(String(format: "%.3f", best[i]), 9) + lpad(String(format: "%.3f", med[i]), 10)
              + lpad(String(format: "%.1f", Double(ctx) / best[i]), 10) + lpad(String(format: "%.2f", best[0] / best[i]), 7)
              + lpad(String(format: "%.2f", med[0] / med[i]), 10) + lpad(String(format: "%.6f", Foundation.exp(nll[i])), 12))
    }
    let rel = abs(Foundation.exp(nll[2]) / Foundation.exp(nll[1]) - 1)
    print("")
    print("packed vs fake-quant PPL: relative difference " + String(format: "%.2e", rel) + " (at most 1e-5 allowed)")
    print("packed / fp32 tokens/s: " + String(format: "%.2f", best[0] / best[2]) + "× best, "
          + String(format: "%.2f", med[0] / med[2]) + "× median (issue #16 target: ≥ 1.5×)")
    print("packed, X quantized once per input point (q/k/v, gate/up) vs once per linear: "
          + String(format: "%.3f", best[3] / best[2]) + "× best, " + String(format: "%.3f", med[3] / med[2]) + "× median"
          + (nll[3].bitPattern == nll[2].bitPattern ? " (same NLL, bitwise)" : ""))
    print("load average after: \(loadAverage())")
    if nll[3].bitPattern != nll[2].bitPattern {
        throw BenchEvalFailure(description: "bench eval: packed NLL \(nll[2]) with X quantized once per input point, \(nll[3]) per linear: they must be bit-identical")
    }
    if !(rel <= 1e-5) {
        throw BenchEvalFailure(description: "bench eval: packed PPL \(Foundation.exp(nll[2])) differs from fake-quant \(Foundation.exp(nll[1])) by \(rel) relative (> 1e-5)")
    }
}
