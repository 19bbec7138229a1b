// Plain scalar reference of the MX numerics (docs/mx-numerics.md), written for clarity,
// not speed: element values from the bit fields, rounding by brute force over every
// code, bit packing one bit at a time, all arithmetic in Double (exact for these values).
// The fast paths must match it bit for bit.
import Foundation

public enum MXReference {
    /// Value of an element code straight from its fields (sign|exponent|mantissa or
    /// two's complement); NaN/±Inf for the special FP codes.
    public static func elementValue(_ format: MXFormat, _ code: UInt8) -> Double {
        let t = format.traits
        let c = Int(code) & ((1 << t.elementBits) - 1)
        if t.isInteger {
            let k = c >= (1 << (t.elementBits - 1)) ? c - (1 << t.elementBits) : c
            return Double(k) * pow(2.0, Double(-t.mantissaBits))
        }
        let sign: Double = (c >> (t.elementBits - 1)) & 1 == 1 ? -1 : 1
        let e = (c >> t.mantissaBits) & ((1 << t.exponentBits) - 1)
        let m = c & ((1 << t.mantissaBits) - 1)
        let eAllOnes = e == (1 << t.exponentBits) - 1
        switch format {
        case .mxfp8_e5m2 where eAllOnes:                 // IEEE-like: Inf and NaN
            return m == 0 ? sign * .infinity : .nan
        case .mxfp8_e4m3 where eAllOnes && m == 7:       // only S.1111.111 is NaN
            return .nan
        default: break
        }
        let frac = Double(m) / Double(1 << t.mantissaBits)
        if e == 0 { return sign * frac * pow(2.0, Double(1 - t.bias)) }          // subnormal
        return sign * (1 + frac) * pow(2.0, Double(e - t.bias))
    }

    /// Every non-negative finite value the encoder may emit, with its code, ascending.
    /// FP: codes with the sign bit clear; INT: k = 0 ... 2^(bits-1) - 1.
    public static func nonNegativeValues(_ format: MXFormat) -> [(code: UInt8, value: Double)] {
        tables[format]!
    }

    private static let tables: [MXFormat: [(code: UInt8, value: Double)]] = {
        var d: [MXFormat: [(code: UInt8, value: Double)]] = [:]
        for f in MXFormat.allCases { d[f] = buildNonNegativeValues(f) }
        return d
    }()

    private static func buildNonNegativeValues(_ format: MXFormat) -> [(code: UInt8, value: Double)] {
        let t = format.traits
        var out: [(code: UInt8, value: Double)] = []
        for c in 0..<(1 << (t.elementBits - 1)) {
            let v = elementValue(format, UInt8(c))
            if v.isFinite { out.append((UInt8(c), v)) }
        }
        return out.sorted { $0.value < $1.value }
    }

    /// Largest finite element value (from the code table, not the traits).
    public static func maxValue(_ format: MXFormat) -> Double { nonNegativeValues(format).last!.value }

    /// Shared exponent of a block with largest magnitude `amax` (finite):
    /// floor: `floor(log2(amax)) - emax_elem`; ceil: the smallest E with `amax <= max · 2^E`;
    /// both clamped to [-127, 127]; amax = 0 gives -127.
    public static func sharedExponent(amax: Float, format: MXFormat, rule: MXScaleRule) -> Int {
        let a = Double(abs(amax))
        if a == 0 { return -127 }
        switch rule {
        case .floor:
            let e = Int(Foundation.floor(log2(a))) - format.traits.emaxElem
            return min(127, max(-127, e))
        case .ceil:
            let maxV = maxValue(format)
            for e in -127...127 where a <= maxV * pow(2.0, Double(e)) { return e }
            return 127
        }
    }

    /// Element code of `scaled` (= v / 2^E, exact): the nearest element value by brute force
    /// over all codes, saturating; ties by `kind`; the sign is attached to the rounded magnitude
    /// (FP keeps the sign of a zero result, INT has a single zero).
    static func encodeElement(_ scaled: Double, format: MXFormat, kind: RoundKind, random: UInt32) -> UInt8 {
        let t = format.traits
        let a = abs(scaled)
        let table = nonNegativeValues(format)
        var chosen = table[0]
        switch kind {
        case _ where a >= table.last!.value:             // saturate (also ±Inf)
            chosen = table.last!
        case .even, .away:
            var best = Double.infinity
            var ties: [(code: UInt8, value: Double)] = []
            for entry in table {
                let d = abs(entry.value - a)
                if d < best { best = d; ties = [entry] } else if d == best { ties.append(entry) }
            }
            precondition(ties.count == 1 || ties.count == 2)
            if ties.count == 1 {
                chosen = ties[0]
            } else if kind == .away {
                chosen = ties[0].value > ties[1].value ? ties[0] : ties[1]
            } else {
                // Even mantissa LSB (FP) / even k (INT): the LSB of the magnitude code.
                chosen = ties[0].code & 1 == 0 ? ties[0] : ties[1]
                precondition(chosen.code & 1 == 0)
            }
        case .stochastic:
            let lo = table.last(where: { $0.value <= a })!
            let hi = table.first(where: { $0.value > a })!
            let frac = (a - lo.value) / (hi.value - lo.value)          // exact
            let t32 = Foundation.floor(frac * 4294967296.0)
            chosen = t32 + Double(random) >= 4294967296.0 ? hi : lo
        }
        let negative = scaled.sign == .minus
        if t.isInteger {
            let k = Int(chosen.code) * (negative ? -1 : 1)
            return UInt8(truncatingIfNeeded: k) & UInt8((1 << t.elementBits) - 1)
        }
        return chosen.code | (negative ? UInt8(1 << (t.elementBits - 1)) : 0)
    }

    /// Element code of `v` under shared exponent `e`: `v · 2^-e` computed exactly in Double.
    public static func encodeElement(_ v: Float, scaleExponent e: Int, format: MXFormat,
                                     rounding: MXRounding = .even, random: UInt32 = 0) -> UInt8 {
        precondition(!v.isNaN)
        let scaled = v.isInfinite ? Double(v) : Double(v) * pow(2.0, Double(-e))
        return encodeElement(scaled, format: format, kind: rounding.kind, random: random)
    }

    /// Scale bytes `[nblocks]` and element codes `[nblocks * block]` (padding included, zero)
    /// of one row; `row` selects the stochastic-rounding stream.
    public static func encodeRow(_ values: [Float], row: Int, config: MXConfig) -> (scales: [UInt8], codes: [UInt8]) {
        let b = config.block
        let nblocks = (values.count + b - 1) / b
        var scales = [UInt8](repeating: 0, count: nblocks)
        var codes = [UInt8](repeating: 0, count: nblocks * b)
        for blk in 0..<nblocks {
            let range = (blk * b)..<min(values.count, (blk + 1) * b)
            let block = Array(values[range])
            if block.contains(where: { !$0.isFinite }) {
                scales[blk] = 0xFF                     // codes stay zero
                continue
            }
            let amax = block.map { abs($0) }.max() ?? 0
            let e = sharedExponent(amax: amax, format: config.format, rule: config.scaleRule)
            scales[blk] = UInt8(e + 127)
            for (i, col) in range.enumerated() {
                let r: UInt32
                if case .stochastic(let seed) = config.rounding {
                    r = MXRounding.randomBits(seed: seed, row: row, col: col)
                } else { r = 0 }
                codes[blk * b + i] = encodeElement(values[col], scaleExponent: e, format: config.format,
                                                   rounding: config.rounding, random: r)
            }
        }
        return (scales, codes)
    }

    /// Packs per-block codes (`codes.count` a multiple of `block`) as an LSB-first bit stream
    /// per block: element i occupies bits [i·bits, (i+1)·bits) of the block's bytes.
    public static func pack(_ codes: [UInt8], format: MXFormat, block: Int) -> [UInt8] {
        let bits = format.elementBits
        let bytesPerBlock = (block * bits + 7) / 8
        precondition(codes.count % block == 0)
        var out = [UInt8](repeating: 0, count: codes.count / block * bytesPerBlock)
        for (idx, c) in codes.enumerated() {
            let blk = idx / block, i = idx % block
            for j in 0..<bits where (c >> j) & 1 == 1 {
                let bit = i * bits + j
                out[blk * bytesPerBlock + bit / 8] |= UInt8(1 << (bit % 8))
            }
        }
        return out
    }

    /// Inverse of `pack`: `nblocks * block` codes.
    public static func unpack(_ bytes: [UInt8], format: MXFormat, block: Int, nblocks: Int) -> [UInt8] {
        let bits = format.elementBits
        let bytesPerBlock = (block * bits + 7) / 8
        var out = [UInt8](repeating: 0, count: nblocks * block)
        for idx in 0..<(nblocks * block) {
            let blk = idx / block, i = idx % block
            var c = 0
            for j in 0..<bits {
                let bit = i * bits + j
                c |= Int((bytes[blk * bytesPerBlock + bit / 8] >> (bit % 8)) & 1) << j
            }
            out[idx] = UInt8(c)
        }
        return out
    }

    /// Encodes row-major `values` ([rows*cols]) into a packed tensor, one row at a time.
    public static func encode(_ values: [Float], rows: Int, cols: Int, config: MXConfig) -> MXTensor {
        precondition(values.count == rows * cols)
        var scales: [UInt8] = [], elements: [UInt8] = []
        for r in 0..<rows {
            let (s, c) = encodeRow(Array(values[(r * cols)..<((r + 1) * cols)]), row: r, config: config)
            scales += s
            elements += pack(c, format: config.format, block: config.block)
        }
        return MXTensor(rows: rows, cols: cols, config: config, scales: scales, elements: elements)
    }

    /// Unpacked element codes `[rows*cols]` (padding dropped).
    public static func codes(of t: MXTensor) -> [UInt8] {
        let all = unpack(t.elements, format: t.config.format, block: t.config.block, nblocks: t.rows * t.blocksPerRow)
        var out: [UInt8] = []
        for r in 0..<t.rows {
            let start = r * t.blocksPerRow * t.config.block
            out += all[start..<(start + t.cols)]
        }
        return out
    }

    /// Decodes to fp32: `value = element · 2^E` (exact; fp32 subnormals kept), NaN for 0xFF blocks.
    public static func decode(_ t: MXTensor) -> [Float] {
        let codes = codes(of: t)
        var out = [Float](repeating: 0, count: t.rows * t.cols)
        for r in 0..<t.rows {
            for c in 0..<t.cols {
                let s = t.scales[r * t.blocksPerRow + c / t.config.block]
                if s == 0xFF { out[r * t.cols + c] = .nan; continue }
                let v = elementValue(t.config.format, codes[r * t.cols + c]) * pow(2.0, Double(Int(s) - 127))
                out[r * t.cols + c] = Float(v)
            }
        }
        return out
    }

    /// Quantize-dequantize with diagnostics, defined as follows. Over finite blocks only:
    /// `saturated` counts |v|/2^E > maxNormal, `flushedToZero` counts v != 0 decoding to 0,
    /// and the error sums accumulate `(Double(v) - Double(q))^2` and `Double(v)^2` into 16
    /// lanes by column index mod 16 (each lane in column order), lanes added 0...15 per row,
    /// rows added in order. The histogram counts every block's scale byte.
    public static func fakeQuantize(_ values: [Float], rows: Int, cols: Int, config: MXConfig) -> ([Float], MXDiagnostics) {
        let t = encode(values, rows: rows, cols: cols, config: config)
        let q = decode(t)
        var d = MXDiagnostics()
        d.elements = rows * cols
        let maxV = maxValue(config.format)
        for r in 0..<rows {
            var sse = [Double](repeating: 0, count: 16), sss = [Double](repeating: 0, count: 16)
            for blk in 0..<t.blocksPerRow {
                let s = t.scales[r * t.blocksPerRow + blk]
                d.exponentHistogram[Int(s)] += 1
                if s == 0xFF { d.nonFiniteBlocks += 1; continue }
                let e = Int(s) - 127
                for c in (blk * config.block)..<min(cols, (blk + 1) * config.block) {
                    let v = values[r * cols + c], out = q[r * cols + c]
                    d.finiteElements += 1
                    if abs(Double(v)) * pow(2.0, Double(-e)) > maxV { d.saturated += 1 }
                    if v != 0 && out == 0 { d.flushedToZero += 1 }
                    let err = Double(v) - Double(out)
                    sse[c % 16] += err * err
                    sss[c % 16] += Double(v) * Double(v)
                }
            }
            var rowE = 0.0, rowS = 0.0
            for l in 0..<16 { rowE += sse[l]; rowS += sss[l] }
            d.sumSquaredError += rowE
            d.sumSquaredSignal += rowS
        }
        return (q, d)
    }
}
