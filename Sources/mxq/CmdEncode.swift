import Foundation
import MXFormats
import Support

enum EncodeCommand: Command {
    static let name = "encode"
    static let summary = "encode fp32 values (stdin) and print scales, codes, packed bytes, decoded values as JSON"
    static let help = """
    mxq encode --format F [--block B] [--scale-rule floor|ceil] [--rounding even|away|stochastic] [--seed N]

    Reads whitespace-separated fp32 values from stdin, each a decimal number (also nan, inf,
    -inf) or 0x followed by exactly 8 hex digits (an fp32 bit pattern), encodes them as one
    row of MX blocks, and prints one JSON object on one line:
      {"format": canonical name, "block": B, "scales": [E8M0 bytes as ints],
       "codes": [one unsigned element code per input value],
       "packed": "lowercase hex of the packed element bytes (partial last block zero-padded)",
       "decoded": ["0x3f800000", ...]  (decoded fp32 bit patterns, one per input value)}

    options:
      --format F        mxint8, mxint4, mxfp8_e4m3, mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4_e2m1
                        (aliases: mxfp8 = mxfp8_e4m3, mxfp6 = mxfp6_e2m3, mxfp4 = mxfp4_e2m1); required
      --block B         elements per shared scale, a positive even number (default 32)
      --scale-rule R    floor (OCP rule, default) or ceil (no clipping)
      --rounding M      even (ties to even, default), away (ties away from zero) or stochastic
      --seed N          seed of stochastic rounding (unsigned 64-bit integer, default 0);
                        only with --rounding stochastic. Element i uses MXRounding.randomBits(seed, row 0, col i).
    """

    static func run(_ args: inout Args) throws {
        guard let fname = try args.option("--format") else {
            throw UsageError("--format is required; allowed: \(MXFormat.allowedNames)")
        }
        let format = try MXFormat(parsing: fname)
        let block = try args.int("--block") ?? 32
        try MXConfig.checkBlock(block, what: "--block")
        let rule = try MXScaleRule(parsing: try args.option("--scale-rule") ?? "floor")
        let roundingName = try args.option("--rounding") ?? "even"
        var seed: UInt64 = 0
        if let s = try args.option("--seed") {
            guard let v = UInt64(s) else { throw UsageError("--seed expects an unsigned 64-bit integer, got '\(s)'") }
            guard roundingName.lowercased() == "stochastic" else {
                throw UsageError("--seed only applies with --rounding stochastic")
            }
            seed = v
        }
        let rounding = try MXRounding(parsing: roundingName, seed: seed)
        let config = MXConfig(format: format, block: block, scaleRule: rule, rounding: rounding)

        try args.finish()   // reject unknown options before reading stdin
        let data = FileHandle.standardInput.readDataToEndOfFile()
        let values = try parseValues(String(decoding: data, as: UTF8.self))
        print(encodeJSON(values, config: config))
    }

    /// Parses whitespace-separated decimal numbers or `0x` + 8 hex digit fp32 bit patterns.
    static func parseValues(_ text: String) throws -> [Float] {
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
                guard hex.count == 8, let b = UInt32(hex, radix: 16) else {
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
    static func encodeJSON(_ values: [Float], config: MXConfig) -> String {
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
