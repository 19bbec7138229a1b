import Support

enum BenchCommand: Command {
    static let name = "bench"
    static let summary = "benchmarks: 'bench formats' (encode/decode), 'bench kernels' (GEMM/GEMV)"
    static var help: String {
        "mxq bench formats|kernels [OPTIONS]\n\nRun on a quiet machine (check `uptime`): another job halves every 2-thread number.\n\n"
            + benchFormatsHelp + "\n\n" + benchKernelsHelp
    }
    static func run(_ args: inout Args) throws {
        guard let which = args.positional() else { throw UsageError("bench: expected 'formats' or 'kernels'") }
        switch which {
        case "formats": try runBenchFormats(&args)
        case "kernels": try runBenchKernels(&args)
        default: throw UsageError("bench: unknown benchmark '\(which)'; expected 'formats' or 'kernels'")
        }
    }
}
