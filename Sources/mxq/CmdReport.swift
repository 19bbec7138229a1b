import Support

enum ReportCommand: Command {
    static let name = "report"
    static let summary = "accuracy table (Markdown) of a results directory"
    static let help = """
    mxq report — accuracy table (Markdown) of a results directory
    (not implemented yet)
    """
    static func run(_ args: inout Args) throws {
        throw UsageError("'report' is not implemented yet")
    }
}
