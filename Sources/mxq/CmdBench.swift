import Support

enum BenchCommand: Command {
    static let name = "bench"
    static let summary = "benchmarks: 'bench formats' (encode/decode), 'bench kernels' (GEMM/GEMV), 'bench ptq' (calibration)"
    static var help: String {
        "mxq bench formats|kernels|ptq [OPTIONS]\n\nRun on a quiet machine (check `uptime`): another job halves every 2-thread number.\n\n"
            + benchFormatsHelp + "\n\n" + benchKernelsHelp + "\n\n" + benchPTQHelp
    }
    static func run(_ args: inout Args) throws {
        guard let which = args.positional() else { throw UsageError("bench: expected formats, kernels or ptq") }
        switch which {
        case "formats": try runBenchFormats(&args)
        case "kernels": try runBenchKernels(&args)
        case "ptq": try runBenchPTQ(&args)
        default: throw UsageError("bench: unknown benchmark '\(which)'; expected formats, kernels or ptq")
        }
    }
}
