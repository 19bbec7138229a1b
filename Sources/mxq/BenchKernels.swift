import Support

/// `mxq bench kernels` (owned by the kernels work).
func runBenchKernels(_ args: inout Args) throws {
    throw UsageError("'bench kernels' is not implemented yet")
}
