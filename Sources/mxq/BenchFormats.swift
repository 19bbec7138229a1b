import Support

/// `mxq bench formats` (owned by the format-layer work).
func runBenchFormats(_ args: inout Args) throws {
    throw UsageError("'bench formats' is not implemented yet")
}
