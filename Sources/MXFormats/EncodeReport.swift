import Foundation
import Support

/// The `mxq encode` contract (docs/mx-numerics.md, "What to expose"): parse fp32 values and
/// print one JSON object with scales, codes, packed bytes and decoded bit patterns.
public enum MXEncodeReport {
    /// Parses whitespace-separated decimal numbers or `0x` + 8 hex digit fp32 bit patterns.
    public static func parseValues(_ text: String) throws -> [Float] {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" })
        guard !tokens.isEmpty else {
            throw UsageError("no input values on stdin; expected whitespace-separated fp32 values (decimal or 0x + 8 hex digits)")
        }
        var out: [Float] = []
        out.reserveCapacity(tokens.count)
        for (i, tok) in tokens.enumerated() {
            let s = String(tok)
            let lower = s.lowercased()
            if lower.hasPrefix("0x") {
                let hex = lower.dropFirst(2)
                guard hex.count == 8, hex.allSatisfy(\.isHexDigit), let b = UInt32(hex, radix: 16) else {
                    throw UsageError("stdin value \(i + 1) '\(s)' is not a valid bit pattern; expected 0x followed by exactly 8 hex digits")
                }
                out.append(Float(bitPattern: b))
                continue
            }
            guard isDecimal(lower), let v = Float(lower) else {
                throw UsageError("stdin value \(i + 1) '\(s)' is not a number; expected a decimal (e.g. -1.5e3, nan, inf) or 0x + 8 hex digits")
            }
            out.append(v)
        }
        return out
    }

    /// Decimal syntax: [+-]digits[.digits][e[+-]digits], or nan / inf / infinity with optional sign.
    private static func isDecimal(_ s: String) -> Bool {
        var t = Substring(s)
        if t.first == "+" || t.first == "-" { t = t.dropFirst() }
        if t == "nan" || t == "inf" || t == "infinity" { return true }
        var sawDigit = false, i = t.startIndex
        func digits() { while i < t.endIndex, t[i].isASCII, t[i].isNumber { sawDigit = true; i = t.index(after: i) } }
        digits()
        if i < t.endIndex, t[i] == "." { i = t.index(after: i); digits() }
        guard sawDigit else { return false }
        if i < t.endIndex, t[i] == "e" {
            i = t.index(after: i)
            if i < t.endIndex, t[i] == "+" || t[i] == "-" { i = t.index(after: i) }
            let start = i
            while i < t.endIndex, t[i].isASCII, t[i].isNumber { i = t.index(after: i) }
            if i == start { return false }
        }
        return i == t.endIndex
    }

    /// The JSON object for `values` encoded as one row.
    public static func json(_ values: [Float], config: MXConfig) -> String {
        let t = MXTensor(encoding: values, rows: 1, cols: values.count, config: config, threads: 1)
        let codes = (0..<values.count).map { String(t.code(row: 0, col: $0)) }
        let packed = t.elements.map { String(format: "%02x", $0) }.joined()
        let decoded = t.decoded(threads: 1).map { "\"" + String(format: "0x%08x", $0.bitPattern) + "\"" }
        return "{\"format\": \"\(config.format.rawValue)\", \"block\": \(config.block), "
            + "\"scales\": [\(t.scales.map(String.init).joined(separator: ", "))], "
            + "\"codes\": [\(codes.joined(separator: ", "))], "
            + "\"packed\": \"\(packed)\", "
            + "\"decoded\": [\(decoded.joined(separator: ", "))]}"
    }
}
