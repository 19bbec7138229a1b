import Support

enum LayersCommand: Command {
    static let name = "layers"
    static let summary = "per-layer error tables and plots of a results directory"
    static let help = """
    mxq layers — per-layer error tables and plots of a results directory
    (not implemented yet)
    """
    static func run(_ args: inout Args) throws {
        throw UsageError("'layers' is not implemented yet")
    }
}
