import Foundation
import Support

// Element decoding for packed MX weights, written from docs/mx-numerics.md
// (tests check it against MXFormats' own decoder on encoded tensors).

/// The seven MX element types, by the `MXFormat` raw value.
@usableFromInline
enum ElementKind: Int, Sendable, CaseIterable {
    case int8, int4, e4m3, e5m2, e3m2, e2m3, e2m1

    @usableFromInline
    init?(formatName: String) {
        switch formatName {
        case "mxint8": self = .int8
        case "mxint4": self = .int4
        case "mxfp8_e4m3": self = .e4m3
        case "mxfp8_e5m2": self = .e5m2
        case "mxfp6_e3m2": self = .e3m2
        case "mxfp6_e2m3": self = .e2m3
        case "mxfp4_e2m1": self = .e2m1
        default: return nil
        }
    }

    @usableFromInline var bits: Int {
        switch self {
        case .int8, .e4m3, .e5m2: return 8
        case .e3m2, .e2m3: return 6
        case .int4, .e2m1: return 4
        }
    }

    /// (exponent bits, mantissa bits, bias) of FP element types.
    @usableFromInline var fpLayout: (e: Int, m: Int, bias: Int)? {
        switch self {
        case .e4m3: return (4, 3, 7)
        case .e5m2: return (5, 2, 15)
        case .e3m2: return (3, 2, 3)
        case .e2m3: return (2, 3, 1)
        case .e2m1: return (2, 1, 1)
        case .int8, .int4: return nil
        }
    }

    /// Exact value of one element code (before the block scale). INT: two's complement
    /// `k · 2^-6` (8-bit) or `k · 2^-2` (4-bit). FP: sign|exponent|mantissa with IEEE-style
    /// subnormals; E4M3 S.1111.111 is NaN; E5M2 exponent 31 is Inf (mantissa 0) or NaN.
    @usableFromInline
    func value(code: Int) -> Float {
        let b = bits
        let c = code & ((1 << b) - 1)
        guard let (eb, mb, bias) = fpLayout else {
            let k = c >= (1 << (b - 1)) ? c - (1 << b) : c
            return Float(k) * (b == 8 ? 0x1p-6 : 0x1p-2)
        }
        let neg = (c >> (b - 1)) & 1 == 1
        let e = (c >> mb) & ((1 << eb) - 1)
        let m = c & ((1 << mb) - 1)
        var v: Float
        if self == .e4m3 && e == 15 && m == 7 {
            v = .nan
        } else if self == .e5m2 && e == 31 {
            v = m == 0 ? .infinity : .nan
        } else if e == 0 {
            v = Float(m) * Float(sign: .plus, exponent: 1 - bias - mb, significand: 1)
        } else {
            v = (1 + Float(m) / Float(1 << mb)) * Float(sign: .plus, exponent: e - bias, significand: 1)
        }
        return neg ? -v : v
    }

    /// Value of every code, indexed by code (2^bits entries).
    @usableFromInline
    var table: [Float] { (0..<(1 << bits)).map { value(code: $0) } }
}

/// Block scale of an E8M0 byte: 2^(byte − 127) (2^-127 is an fp32 subnormal), NaN for 0xFF.
@usableFromInline
let e8m0Table: [Float] = (0..<256).map { b in
    b == 255 ? Float.nan : Float(sign: .plus, exponent: b - 127, significand: 1)
}

@usableFromInline
let elementTables: [[Float]] = ElementKind.allCases.map { $0.table }

/// A read-only view of a packed MX matrix [rows, cols], blocks of `block` along cols.
@usableFromInline
struct PackedMX {
    @usableFromInline let rows: Int, cols: Int, block: Int
    @usableFromInline let kind: ElementKind
    @usableFromInline let blocksPerRow: Int, bytesPerBlock: Int
    @usableFromInline let scales: UnsafePointer<UInt8>
    @usableFromInline let elements: UnsafePointer<UInt8>
    @usableFromInline let lut: UnsafePointer<Float>    // element code → value
    @usableFromInline let scaleLUT: UnsafePointer<Float> // scale byte → 2^(b−127)

    @usableFromInline
    init(rows: Int, cols: Int, block: Int, kind: ElementKind, scales: UnsafePointer<UInt8>, elements: UnsafePointer<UInt8>,
         lut: UnsafePointer<Float>, scaleLUT: UnsafePointer<Float>) {
        self.rows = rows; self.cols = cols; self.block = block; self.kind = kind
        self.blocksPerRow = (cols + block - 1) / block
        self.bytesPerBlock = (block * kind.bits + 7) / 8
        self.scales = scales; self.elements = elements; self.lut = lut; self.scaleLUT = scaleLUT
    }

    /// Element codes of block `b` of row `r` into `codes[0..<block]`.
    @inline(__always) @usableFromInline
    func blockCodes(row r: Int, block b: Int, into codes: UnsafeMutablePointer<UInt8>) {
        let p = elements + (r * blocksPerRow + b) * bytesPerBlock
        switch kind.bits {
        case 8:
            codes.update(from: p, count: block)
        case 4:
            for i in 0..<(block / 2) { let v = p[i]; codes[2 * i] = v & 15; codes[2 * i + 1] = v >> 4 }
            if block & 1 == 1 { codes[block - 1] = p[block / 2] & 15 }
        default: // 6-bit little-endian bit stream per block: 4 codes per 3 bytes
            var i = 0
            while i + 4 <= block {
                let q = p + (i / 4) * 3
                let v = UInt32(q[0]) | UInt32(q[1]) << 8 | UInt32(q[2]) << 16
                codes[i] = UInt8(v & 63); codes[i + 1] = UInt8((v >> 6) & 63)
                codes[i + 2] = UInt8((v >> 12) & 63); codes[i + 3] = UInt8(v >> 18)
                i += 4
            }
            while i < block {
                let bit = 6 * i, byte = bit >> 3, sh = bit & 7
                var v = UInt16(p[byte]) >> UInt16(sh)
                if sh > 2 { v |= UInt16(p[byte + 1]) << UInt16(8 - sh) }
                codes[i] = UInt8(v & 63)
                i += 1
            }
        }
    }

    /// Decoded (scaled) values of block `b` of row `r` into `out[0..<block]` (codes are
    /// unpacked and looked up in one pass).
    @inline(__always) @usableFromInline
    func blockValues(row r: Int, block b: Int, into out: UnsafeMutablePointer<Float>) {
        let p = elements + (r * blocksPerRow + b) * bytesPerBlock
        let s = scaleLUT[Int(scales[r * blocksPerRow + b])]
        switch kind.bits {
        case 8:
            for i in 0..<block { out[i] = lut[Int(p[i])] * s }
        case 4:
            for i in 0..<(block / 2) {
                let v = Int(p[i])
                out[2 * i] = lut[v & 15] * s; out[2 * i + 1] = lut[v >> 4] * s
            }
            if block & 1 == 1 { out[block - 1] = lut[Int(p[block / 2] & 15)] * s }
        default:
            var i = 0
            while i + 4 <= block {
                let q = p + (i / 4) * 3
                let v = Int(q[0]) | Int(q[1]) << 8 | Int(q[2]) << 16
                out[i] = lut[v & 63] * s; out[i + 1] = lut[(v >> 6) & 63] * s
                out[i + 2] = lut[(v >> 12) & 63] * s; out[i + 3] = lut[v >> 18] * s
                i += 4
            }
            while i < block {
                let bit = 6 * i, byte = bit >> 3, sh = bit & 7
                var v = Int(p[byte]) >> sh
                if sh > 2 { v |= Int(p[byte + 1]) << (8 - sh) }
                out[i] = lut[v & 63] * s
                i += 1
            }
        }
    }

    /// Decoded (scaled) values of row `r`, columns `k0..<k0+kc`, into `out[(k − k0) · stride]`.
    /// `codes` must hold `block` bytes.
    @inline(__always) @usableFromInline
    func decode(row r: Int, k0: Int, kc: Int, into out: UnsafeMutablePointer<Float>, stride: Int = 1,
                codes: UnsafeMutablePointer<UInt8>) {
        var k = k0
        let end = k0 + kc
        while k < end {
            let b = k / block, bStart = b * block
            let s = scaleLUT[Int(scales[r * blocksPerRow + b])]
            blockCodes(row: r, block: b, into: codes)
            let hi = min(end, bStart + block)
            for kk in k..<hi { out[(kk - k0) * stride] = lut[Int(codes[kk - bStart])] * s }
            k = hi
        }
    }
}
