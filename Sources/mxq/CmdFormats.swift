import Foundation
import MXFormats
import Support

enum FormatsCommand: Command {
    static let name = "formats"
    static let summary = "table of MX formats and their properties"
    static let help = """
    mxq formats [--block B]

    Prints one line per MX element format (docs/mx-numerics.md): canonical name, alias,
    element bits, exponent bias, emax_elem, largest and smallest positive element value,
    and storage bits per element including the shared E8M0 scale at block size B.

    options:
      --block B   block size for the bits/element column (positive even number; default 32)
    """

    static func run(_ args: inout Args) throws {
        let block = try args.int("--block") ?? 32
        try MXConfig.checkBlock(block, what: "--block")
        let header = ["format", "alias", "bits", "bias", "emax", "max", "min>0", "bits/elem@B\(block)"]
        var rows: [[String]] = []
        for f in MXFormat.allCases {
            let t = f.traits
            let alias = MXFormat.aliases.filter { $0.value == f }.map(\.key).sorted().joined(separator: ",")
            let minPos = (1..<t.codeCount).map { f.decodeElement(UInt8($0)) }.filter { $0 > 0 }.min() ?? 0
            rows.append([t.name, alias.isEmpty ? "-" : alias, "\(t.elementBits)", t.isInteger ? "-" : "\(t.bias)",
                         "\(t.emaxElem)", fmt(t.maxNormal), fmt(minPos),
                         String(format: "%.4g", f.storageBitsPerElement(block: block))])
        }
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max()! }
        func line(_ r: [String]) -> String {
            r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        print(line(header))
        for r in rows { print(line(r)) }
        print("scales: E8M0, one byte per block of \(block) elements (2^(byte-127), 0xFF = NaN)")
    }

    private static func fmt(_ v: Float) -> String {
        if v == v.rounded() && abs(v) < 1e7 { return String(Int(v)) }
        if v.significandBitPattern == 0 { return "2^\(Int(v.exponent))" }
        return String(format: "%g", Double(v))
    }
}
