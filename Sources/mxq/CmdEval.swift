import Support

enum EvalCommand: Command {
    static let name = "eval"
    static let summary = "perplexity of a (quantized) model on wikitext2 or ptb"
    static let help = """
    mxq eval — perplexity of a (quantized) model on wikitext2 or ptb
    (not implemented yet)
    """
    static func run(_ args: inout Args) throws {
        throw UsageError("'eval' is not implemented yet")
    }
}
