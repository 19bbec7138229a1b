/// An error caused by user input (a file, a flag, a manifest field). The CLI prints
/// `description` on one line and exits with status 2. Each module defines its own
/// typed errors and conforms them to this protocol.
public protocol UserFacingError: Error, CustomStringConvertible {}

/// A generic user-input error for places where a dedicated type would add nothing.
public struct UsageError: UserFacingError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
