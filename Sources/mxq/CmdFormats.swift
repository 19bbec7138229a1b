import Support

enum FormatsCommand: Command {
    static let name = "formats"
    static let summary = "table of MX formats and their properties"
    static let help = """
    mxq formats — table of MX formats and their properties
    (not implemented yet)
    """
    static func run(_ args: inout Args) throws {
        throw UsageError("'formats' is not implemented yet")
    }
}
