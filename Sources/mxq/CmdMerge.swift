import Support

enum MergeCommand: Command {
    static let name = "merge"
    static let summary = "join shard results into one table"
    static let help = """
    mxq merge — join shard results into one table
    (not implemented yet)
    """
    static func run(_ args: inout Args) throws {
        throw UsageError("'merge' is not implemented yet")
    }
}
