import Support

/// Errors caused by a model file or folder the user pointed at. Every case names the
/// file (and the tensor or metadata key when there is one) and what was expected.
public enum ModelIOError: UserFacingError, Equatable {
    /// The path does not exist or cannot be opened/mapped.
    case cannotOpen(path: String, reason: String)
    /// The file ends before a structure that must be there (`what`), which needs
    /// `needed` bytes from the start of the file; the file has `fileSize`.
    case truncated(path: String, what: String, needed: Int, fileSize: Int)
    /// The first bytes are not the expected magic (`found` shows them).
    case badMagic(path: String, expected: String, found: String)
    /// A GGUF version other than 2 or 3.
    case unsupportedVersion(path: String, version: UInt32)
    /// A structural problem in the header/metadata/JSON (`detail` says what and where).
    case malformed(path: String, detail: String)
    /// A tensor's data range `[start, end)` (absolute file offsets) lies past the end of the file.
    case tensorOutOfBounds(path: String, tensor: String, start: Int, end: Int, fileSize: Int)
    /// A tensor's storage type that this reader cannot convert to fp32.
    case unsupportedDType(path: String, tensor: String, dtype: String, supported: [String])
    /// A required tensor is absent.
    case missingTensor(path: String, tensor: String)
    /// A tensor's shape (row-major, PyTorch order) differs from what the config implies.
    case shapeMismatch(path: String, tensor: String, found: [Int], expected: [Int])
    /// A weight holds NaN or ±Inf (first offending flat index and its value).
    case nonFinite(path: String, tensor: String, index: Int, value: Float)
    /// A required metadata key / config field is missing.
    case missingMetadata(path: String, key: String)
    /// A metadata key / config field has the wrong type or an invalid value.
    case badMetadata(path: String, key: String, expected: String, found: String)

    /// One line (names and values from the file are escaped, see `oneLine`).
    public var description: String { oneLine(message) }

    private var message: String {
        switch self {
        case let .cannotOpen(p, r):
            return "\(p): cannot open model file: \(r)"
        case let .truncated(p, w, n, s):
            return "\(p): file is truncated: \(w) needs \(n) bytes but the file has \(s)"
        case let .badMagic(p, e, f):
            return "\(p): not a \(e) file (first bytes \(f))"
        case let .unsupportedVersion(p, v):
            let hint = v > 0xFFFF ? " (a big-endian file?)" : ""
            return "\(p): unsupported GGUF version \(v)\(hint); expected 2 or 3"
        case let .malformed(p, d):
            return "\(p): malformed file: \(d)"
        case let .tensorOutOfBounds(p, t, a, b, s):
            return "\(p): tensor '\(t)' data [\(a), \(b)) lies past the end of the file (\(s) bytes)"
        case let .unsupportedDType(p, t, d, sup):
            return "\(p): tensor '\(t)' has type \(d), which cannot be read; supported: \(sup.joined(separator: ", "))"
        case let .missingTensor(p, t):
            return "\(p): required tensor '\(t)' is missing"
        case let .shapeMismatch(p, t, f, e):
            return "\(p): tensor '\(t)' has shape \(f) but the config implies \(e)"
        case let .nonFinite(p, t, i, v):
            return "\(p): tensor '\(t)' holds a non-finite value \(v) at flat index \(i); expected finite weights"
        case let .missingMetadata(p, k):
            return "\(p): required field '\(k)' is missing"
        case let .badMetadata(p, k, e, f):
            return "\(p): field '\(k)' is \(f); expected \(e)"
        }
    }
}
