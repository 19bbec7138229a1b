import Support

enum BenchCommand: Command {
    static let name = "bench"
    static let summary = "benchmarks: 'bench formats' (encode/decode), 'bench kernels' (GEMM/GEMV)"
    static let help = """
    mxq bench formats|kernels [OPTIONS]

    mxq bench formats   encode/decode throughput per MX format (see 'mxq bench formats --help')
    mxq bench kernels   fp32 GEMM/GEMV and MX dequant-matmul throughput (see 'mxq bench kernels --help')
    """
    static func run(_ args: inout Args) throws {
        guard let which = args.positional() else { throw UsageError("bench: expected 'formats' or 'kernels'") }
        switch which {
        case "formats": try runBenchFormats(&args)
        case "kernels": try runBenchKernels(&args)
        default: throw UsageError("bench: unknown benchmark '\(which)'; expected 'formats' or 'kernels'")
        }
    }
}
