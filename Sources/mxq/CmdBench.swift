import Support

enum BenchCommand: Command {
    static let name = "bench"
    static let summary = "benchmarks"
    static let help = """
    mxq bench — benchmarks
    (not implemented yet)
    """
    static func run(_ args: inout Args) throws {
        throw UsageError("'bench' is not implemented yet")
    }
}
