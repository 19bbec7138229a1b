import Foundation

/// Minimal argument parser: `--name value`, `--name=value`, boolean `--flag`, positionals.
/// Commands take what they know, then call `finish()` which rejects anything left over.
public struct Args {
    public private(set) var items: [String]
    public let command: String

    public init(command: String, _ items: [String]) { self.command = command; self.items = items }

    /// Removes and returns the value of `--name` (last occurrence wins), or nil.
    public mutating func option(_ name: String) throws -> String? {
        var value: String? = nil
        var i = 0
        while i < items.count {
            let a = items[i]
            if a == name {
                guard i + 1 < items.count else { throw UsageError("\(command): option \(name) needs a value") }
                value = items[i + 1]
                items.removeSubrange(i...(i + 1))
            } else if a.hasPrefix(name + "=") {
                value = String(a.dropFirst(name.count + 1))
                items.remove(at: i)
            } else { i += 1 }
        }
        return value
    }

    /// Removes `--name` and reports whether it was present.
    public mutating func flag(_ name: String) -> Bool {
        let before = items.count
        items.removeAll { $0 == name }
        return items.count != before
    }

    public mutating func int(_ name: String) throws -> Int? {
        guard let s = try option(name) else { return nil }
        guard let v = Int(s) else { throw UsageError("\(command): \(name) expects an integer, got '\(s)'") }
        return v
    }

    public mutating func double(_ name: String) throws -> Double? {
        guard let s = try option(name) else { return nil }
        guard let v = Double(s) else { throw UsageError("\(command): \(name) expects a number, got '\(s)'") }
        return v
    }

    /// Removes and returns the first positional argument (one not starting with `--`).
    public mutating func positional() -> String? {
        guard let i = items.firstIndex(where: { !$0.hasPrefix("--") || $0 == "-" }) else { return nil }
        return items.remove(at: i)
    }

    /// Throws if anything was not consumed.
    public func finish() throws {
        if let first = items.first {
            throw UsageError("\(command): unknown argument '\(first)' (see 'mxq help \(command)')")
        }
    }
}

