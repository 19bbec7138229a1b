import Support

enum TokenizeCommand: Command {
    static let name = "tokenize"
    static let summary = "print token ids of a dataset, file or stdin"
    static let help = """
    mxq tokenize — print token ids of a dataset, file or stdin
    (not implemented yet)
    """
    static func run(_ args: inout Args) throws {
        throw UsageError("'tokenize' is not implemented yet")
    }
}
