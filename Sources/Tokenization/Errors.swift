import Support

/// Errors from building a tokenizer or reading evaluation texts. `source` names the
/// file (or `<memory>`) the bad input came from.
public enum TokenizerError: UserFacingError, Equatable {
    /// The tokenizer.json pre-tokenizer or a `--pre` name is not one mxq implements (an unknown
    /// GGUF `tokenizer.ggml.pre` is `invalid`, naming the key and the names mxq reads).
    case unknownPreTokenizer(name: String, source: String)
    /// A required field is absent or has the wrong type.
    case missingField(field: String, expected: String, source: String)
    /// The vocabulary, merges or settings are malformed or unsupported.
    case invalid(source: String, detail: String)
    /// A `Split` regex needed more than its step budget (`steps`) on an input of `scalars`
    /// scalars: catastrophic backtracking (e.g. nested quantifiers), stopped instead of hanging.
    case regexStepBudget(pattern: String, source: String, steps: Int, scalars: Int)

    /// One line (names and values from the file are escaped, see `oneLine`).
    public var description: String { oneLine(message) }

    private var message: String {
        switch self {
        case let .unknownPreTokenizer(name, source):
            return "\(source): unknown pre-tokenizer '\(name)'; mxq implements "
                + "\(PreTokenizer.allCases.map(\.rawValue).joined(separator: ", ")) "
                + "(aliases gpt-2, starcoder); pass --pre NAME to choose one explicitly"
        case let .missingField(field, expected, source):
            return "\(source): missing or malformed '\(field)' (expected \(expected))"
        case let .invalid(source, detail):
            return "\(source): \(detail)"
        case let .regexStepBudget(pattern, source, steps, scalars):
            return "\(source): regex '\(pattern)' needed more than \(steps) steps on a text of \(scalars) characters "
                + "(a budget no real tokenizer pattern approaches): it backtracks catastrophically (nested quantifiers?)"
        }
    }
}
