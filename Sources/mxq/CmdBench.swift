import Support

enum BenchCommand: Command {
    static let name = "bench"
    static let summary = "benchmarks: 'bench formats' (encode/decode), 'bench kernels' (GEMM/GEMV), 'bench ptq' (calibration), 'bench eval' (fp32 vs fake-quant vs packed evaluation)"
    static var help: String {
        "mxq bench formats|kernels|ptq|eval [OPTIONS]\n\nRun on a quiet machine (check `uptime`): another job halves every 2-thread number.\n\n"
            + benchFormatsHelp + "\n\n" + benchKernelsHelp + "\n\n" + benchPTQHelp + "\n\n" + benchEvalHelp
    }
    static func run(_ args: inout Args) throws {
        guard let which = args.positional() else { throw UsageError("bench: expected formats, kernels, ptq or eval") }
        switch which {
        case "formats": try runBenchFormats(&args)
        case "kernels": try runBenchKernels(&args)
        case "ptq": try runBenchPTQ(&args)
        case "eval": try runBenchEval(&args)
        default: throw UsageError("bench: unknown benchmark '\(which)'; expected formats, kernels, ptq or eval")
        }
    }
}
