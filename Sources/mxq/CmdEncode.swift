import Support

enum EncodeCommand: Command {
    static let name = "encode"
    static let summary = "encode fp32 values (stdin) and print scales, codes, packed bytes, decoded values as JSON"
    static let help = """
    mxq encode — encode fp32 values (stdin) and print scales, codes, packed bytes, decoded values as JSON
    (not implemented yet)
    """
    static func run(_ args: inout Args) throws {
        throw UsageError("'encode' is not implemented yet")
    }
}
