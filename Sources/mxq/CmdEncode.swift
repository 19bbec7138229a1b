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
        let values = try MXEncodeReport.parseValues(String(decoding: data, as: UTF8.self))
        print(MXEncodeReport.json(values, config: config))
    }
}
