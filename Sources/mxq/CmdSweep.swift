import Support

enum SweepCommand: Command {
    static let name = "sweep"
    static let summary = "run a JSON experiment manifest"
    static let help = """
    mxq sweep — run a JSON experiment manifest
    (not implemented yet)
    """
    static func run(_ args: inout Args) throws {
        throw UsageError("'sweep' is not implemented yet")
    }
}
