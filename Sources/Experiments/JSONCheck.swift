import Foundation
import Support

/// One problem found in a manifest: where (a JSON path such as
/// `grid.recipes[2].stages[0].alpha`), what was found, and what is allowed.
public struct ManifestIssue: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String
    /// One line (keys and values quoted from the file are escaped, see `oneLine`).
    public var description: String { oneLine("\(path.isEmpty ? "(top level)" : path): \(message)") }
}

/// All problems found while validating a manifest (never just the first one).
public struct ManifestError: UserFacingError {
    public let file: String
    public let issues: [ManifestIssue]
    public var description: String {
        let head = "manifest \(file): \(issues.count) error\(issues.count == 1 ? "" : "s")"
        return ([head] + issues.map { "  " + $0.description }).joined(separator: "\n")
    }
}

/// Short human rendering of a JSON value for messages (`"abc"`, `1.5`, `true`, `an object`).
func jsonRender(_ v: Any?) -> String {
    guard let v = v else { return "nothing" }
    if v is NSNull { return "null" }
    if isJSONBool(v) { return (v as! Bool) ? "true" : "false" }
    if let s = v as? String { return "\"\(s)\"" }
    if let n = v as? NSNumber { return fmtNumber(n.doubleValue) }
    if v is [Any] { return "an array" }
    if v is [String: Any] { return "an object" }
    return "\(v)"
}

func fmtNumber(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d) }

/// JSONSerialization returns booleans as NSNumber; tell them apart from 0/1.
func isJSONBool(_ v: Any) -> Bool {
    guard let n = v as? NSNumber else { return false }
    return String(cString: n.objCType) == "c"
}

/// Collects issues while reading a JSON tree; every accessor records a problem and
/// returns nil instead of throwing, so validation reports all errors at once.
final class JSONChecker {
    private(set) var issues: [ManifestIssue] = []

    func fail(_ path: String, _ message: String) { issues.append(ManifestIssue(path: path, message: message)) }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }
    static func join(_ path: String, _ index: Int) -> String { path + "[\(index)]" }

    func object(_ v: Any?, _ path: String, keys allowed: [String]) -> [String: Any]? {
        guard let v = v else { return nil }
        guard let o = v as? [String: Any] else {
            fail(path, "expected an object, got \(jsonRender(v))"); return nil
        }
        for k in o.keys.sorted() where !allowed.contains(k) {
            let norm = { (s: String) in s.lowercased().replacingOccurrences(of: "_", with: "").replacingOccurrences(of: "-", with: "") }
            let close = allowed.filter { norm($0) == norm(k) || norm($0) + "s" == norm(k) || norm($0) == norm(k) + "s" }
            let hint = close.isEmpty ? "" : " (did you mean \"\(close[0])\"?)"
            fail(Self.join(path, k), "unknown key\(hint); allowed keys: \(allowed.joined(separator: ", "))")
        }
        return o
    }

    func array(_ v: Any?, _ path: String, nonEmpty: Bool = true) -> [Any]? {
        guard let v = v else { return nil }
        guard let a = v as? [Any] else { fail(path, "expected an array, got \(jsonRender(v))"); return nil }
        if nonEmpty && a.isEmpty { fail(path, "expected a non-empty array, got []"); return nil }
        return a
    }

    func string(_ v: Any?, _ path: String, allowed: String? = nil) -> String? {
        guard let v = v else { return nil }
        guard let s = v as? String else {
            fail(path, "expected a string, got \(jsonRender(v))" + (allowed.map { "; allowed: \($0)" } ?? "")); return nil
        }
        return s
    }

    func bool(_ v: Any?, _ path: String) -> Bool? {
        guard let v = v else { return nil }
        guard isJSONBool(v), let b = v as? Bool else { fail(path, "expected true or false, got \(jsonRender(v))"); return nil }
        return b
    }

    func number(_ v: Any?, _ path: String, in range: ClosedRange<Double>, what: String? = nil) -> Double? {
        guard let v = v else { return nil }
        let allowed = what ?? "a number in [\(fmtNumber(range.lowerBound)), \(fmtNumber(range.upperBound))]"
        guard !isJSONBool(v), !(v is String), let n = v as? NSNumber else {
            fail(path, "expected a number, got \(jsonRender(v)); allowed: \(allowed)"); return nil
        }
        let d = n.doubleValue
        guard d.isFinite, range.contains(d) else { fail(path, "got \(jsonRender(v)); allowed: \(allowed)"); return nil }
        return d
    }

    func integer(_ v: Any?, _ path: String, in range: ClosedRange<Int>, what: String? = nil) -> Int? {
        guard let v = v else { return nil }
        let allowed = what ?? "an integer in [\(range.lowerBound), \(range.upperBound)]"
        guard !isJSONBool(v), !(v is String), let n = v as? NSNumber else {
            fail(path, "expected an integer, got \(jsonRender(v)); allowed: \(allowed)"); return nil
        }
        let d = n.doubleValue
        guard d.isFinite, d == d.rounded(), abs(d) < 9e15 else { fail(path, "got \(jsonRender(v)); allowed: \(allowed)"); return nil }
        let i = Int(d)
        guard range.contains(i) else { fail(path, "got \(i); allowed: \(allowed)"); return nil }
        return i
    }
}

/// A JSON object tree with every non-finite Double (in values, arrays and nested objects)
/// replaced by the string `"inf"`, `"-inf"` or `"nan"` — the convention of the sweep's cell
/// records — so `JSONSerialization` can write it (it refuses non-finite numbers).
public func jsonSafe(_ v: Any) -> Any {
    switch v {
    case let d as Double where !d.isFinite: return d.isNaN ? "nan" : (d > 0 ? "inf" : "-inf")
    case let a as [Double]: return a.map { jsonSafe($0) }
    case let a as [Any]: return a.map(jsonSafe)
    case let o as [String: Any]: return o.mapValues(jsonSafe)
    default: return v
    }
}
