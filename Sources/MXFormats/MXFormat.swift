// MX element formats, scale rules, rounding modes and configurations.
// The numerics contract is docs/mx-numerics.md (OCP Microscaling Formats v1.0).
import Support

/// Properties of one MX element format. One table (`MXFormat.traitsTable`) drives
/// every encoder, decoder, packer and test, so adding a format is one entry.
public struct MXFormatTraits: Sendable, Hashable {
    /// Canonical lowercase name, e.g. `mxfp4_e2m1`.
    public let name: String
    /// Human-readable name, e.g. `MXFP4 E2M1`.
    public let displayName: String
    /// Bits per element code (4, 6 or 8).
    public let elementBits: Int
    /// Two's-complement integer elements (MXINT) rather than sign|exponent|mantissa.
    public let isInteger: Bool
    /// FP: exponent field width. INT: 0.
    public let exponentBits: Int
    /// FP: mantissa field width. INT: fraction bits (element value = k · 2^-mantissaBits).
    public let mantissaBits: Int
    /// FP exponent bias (0 for INT).
    public let bias: Int
    /// Exponent of the largest normal element value (`emax_elem` of the spec).
    public let emaxElem: Int
    /// Largest finite element value; encoding saturates to ±maxNormal.
    public let maxNormal: Float
    /// Largest magnitude code the encoder emits (FP: sign bit clear; INT: largest k).
    /// FP magnitude codes above it are special (Inf/NaN) and only appear in foreign data.
    public let maxCodeMagnitude: UInt8
    /// FP magnitude code that means infinity (E5M2 only), else nil; other specials are NaN.
    public let infinityCodeMagnitude: UInt8?

    /// Smallest normal exponent (FP: 1 - bias; INT: 0).
    @inlinable public var eminElem: Int { isInteger ? 0 : 1 - bias }
    /// Number of distinct codes, 2^elementBits.
    @inlinable public var codeCount: Int { 1 << elementBits }
    /// Mask of the element bits inside a code byte.
    @inlinable public var codeMask: UInt8 { UInt8(truncatingIfNeeded: (1 << elementBits) - 1) }
    /// FP: the sign bit of a code. INT: the two's-complement sign bit.
    @inlinable public var signBit: UInt8 { UInt8(truncatingIfNeeded: 1 << (elementBits - 1)) }
}

/// The seven OCP MX formats. `rawValue` is the canonical name used on the command line.
public enum MXFormat: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case mxint8, mxint4, mxfp8_e4m3, mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4_e2m1

    /// The single source of truth for all format properties (mx-numerics.md table).
    public static let traitsTable: [MXFormat: MXFormatTraits] = [
        .mxint8: MXFormatTraits(name: "mxint8", displayName: "MXINT8", elementBits: 8, isInteger: true,
                                exponentBits: 0, mantissaBits: 6, bias: 0, emaxElem: 0, maxNormal: 127.0 / 64,
                                maxCodeMagnitude: 127, infinityCodeMagnitude: nil),
        .mxint4: MXFormatTraits(name: "mxint4", displayName: "MXINT4", elementBits: 4, isInteger: true,
                                exponentBits: 0, mantissaBits: 2, bias: 0, emaxElem: 0, maxNormal: 7.0 / 4,
                                maxCodeMagnitude: 7, infinityCodeMagnitude: nil),
        .mxfp8_e4m3: MXFormatTraits(name: "mxfp8_e4m3", displayName: "MXFP8 E4M3", elementBits: 8, isInteger: false,
                                    exponentBits: 4, mantissaBits: 3, bias: 7, emaxElem: 8, maxNormal: 448,
                                    maxCodeMagnitude: 0x7E, infinityCodeMagnitude: nil),
        .mxfp8_e5m2: MXFormatTraits(name: "mxfp8_e5m2", displayName: "MXFP8 E5M2", elementBits: 8, isInteger: false,
                                    exponentBits: 5, mantissaBits: 2, bias: 15, emaxElem: 15, maxNormal: 57344,
                                    maxCodeMagnitude: 0x7B, infinityCodeMagnitude: 0x7C),
        .mxfp6_e3m2: MXFormatTraits(name: "mxfp6_e3m2", displayName: "MXFP6 E3M2", elementBits: 6, isInteger: false,
                                    exponentBits: 3, mantissaBits: 2, bias: 3, emaxElem: 4, maxNormal: 28,
                                    maxCodeMagnitude: 0x1F, infinityCodeMagnitude: nil),
        .mxfp6_e2m3: MXFormatTraits(name: "mxfp6_e2m3", displayName: "MXFP6 E2M3", elementBits: 6, isInteger: false,
                                    exponentBits: 2, mantissaBits: 3, bias: 1, emaxElem: 2, maxNormal: 7.5,
                                    maxCodeMagnitude: 0x1F, infinityCodeMagnitude: nil),
        .mxfp4_e2m1: MXFormatTraits(name: "mxfp4_e2m1", displayName: "MXFP4 E2M1", elementBits: 4, isInteger: false,
                                    exponentBits: 2, mantissaBits: 1, bias: 1, emaxElem: 2, maxNormal: 6,
                                    maxCodeMagnitude: 0x7, infinityCodeMagnitude: nil),
    ]

    /// Short names accepted in addition to the canonical ones.
    public static let aliases: [String: MXFormat] = [
        "mxfp8": .mxfp8_e4m3, "mxfp6": .mxfp6_e2m3, "mxfp4": .mxfp4_e2m1,
    ]

    /// Accepts canonical names and aliases (mxfp8 = e4m3, mxfp6 = e2m3, mxfp4 = e2m1),
    /// case-insensitively; throws a `UserFacingError` listing the allowed names.
    public init(parsing name: String) throws {
        let key = name.lowercased()
        if let f = MXFormat(rawValue: key) { self = f; return }
        if let f = MXFormat.aliases[key] { self = f; return }
        throw MXFormatError.unknownFormat(name)
    }

    @inlinable public var traits: MXFormatTraits { MXFormat.traitsTable[self]! }
    @inlinable public var elementBits: Int { params.elementBits }
    public var description: String { rawValue }

    /// Storage cost per element including the shared E8M0 scale: `elementBits + 8 / block`.
    public func storageBitsPerElement(block: Int) -> Double {
        Double(elementBits) + 8.0 / Double(block)
    }

    /// All accepted names, canonical first, for error messages and help.
    public static var allowedNames: String {
        MXFormat.allCases.map(\.rawValue).joined(separator: ", ")
            + " (aliases: mxfp8 = mxfp8_e4m3, mxfp6 = mxfp6_e2m3, mxfp4 = mxfp4_e2m1)"
    }
}

/// How the shared exponent E of a block is chosen from its largest magnitude `amax`.
public enum MXScaleRule: String, CaseIterable, Sendable, Hashable {
    /// The OCP rule: `E = floor(log2(amax)) - emax_elem` (may saturate a few elements).
    case floor
    /// "No clipping": smallest E with `amax / 2^E <= maxNormal`.
    case ceil

    public init(parsing s: String) throws {
        guard let r = MXScaleRule(rawValue: s.lowercased()) else {
            throw MXFormatError.badOption("scale rule '\(s)'", allowed: "floor, ceil")
        }
        self = r
    }
}

/// Rounding of `v / 2^E` to an element value.
public enum MXRounding: Sendable, Hashable, CustomStringConvertible {
    /// Nearest, ties to even mantissa LSB (FP) / even k (INT). The default.
    case even
    /// Nearest, ties away from zero.
    case away
    /// Stochastic: rounds the magnitude up with probability equal to the fraction of the
    /// gap covered (resolution 2^-32). Random bits come from `MXRounding.randomBits(seed:row:col:)`,
    /// so results depend only on (seed, row, column), never on thread count.
    case stochastic(seed: UInt64)

    /// Parses `even`, `away` or `stochastic` (which then uses `seed`).
    public init(parsing s: String, seed: UInt64 = 0) throws {
        switch s.lowercased() {
        case "even": self = .even
        case "away": self = .away
        case "stochastic": self = .stochastic(seed: seed)
        default: throw MXFormatError.badOption("rounding '\(s)'", allowed: "even, away, stochastic")
        }
    }

    public var description: String {
        switch self {
        case .even: return "even"
        case .away: return "away"
        case .stochastic(let s): return "stochastic(seed: \(s))"
        }
    }

    /// The 32 random bits used by stochastic rounding for element (`row`, `col`) of a tensor.
    /// Element magnitude rounds up iff `floor(frac · 2^32) + bits >= 2^32`, where `frac` is
    /// the position of `|v|/2^E` between the two neighbouring element values.
    @inlinable public static func randomBits(seed: UInt64, row: Int, col: Int) -> UInt32 {
        randomBits(rowKey: rowKey(seed: seed, row: row), col: col)
    }

    /// Per-row part of `randomBits` (hoist it out of inner loops).
    @inlinable public static func rowKey(seed: UInt64, row: Int) -> UInt64 {
        mix64(seed ^ mix64(UInt64(truncatingIfNeeded: row) &+ 0x9E37_79B9_7F4A_7C15))
    }

    @inlinable public static func randomBits(rowKey: UInt64, col: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: mix64(rowKey &+ UInt64(truncatingIfNeeded: col) &* 0x9E37_79B9_7F4A_7C15) >> 32)
    }

    /// SplitMix64 finalizer.
    @inlinable static func mix64(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Everything that defines an MX quantizer.
public struct MXConfig: Sendable, Hashable, CustomStringConvertible {
    public var format: MXFormat
    /// Elements per shared scale; any positive even number (16, 32, 64, 128 typical).
    public var block: Int
    public var scaleRule: MXScaleRule
    public var rounding: MXRounding

    public init(format: MXFormat, block: Int = 32, scaleRule: MXScaleRule = .floor, rounding: MXRounding = .even) {
        precondition(MXConfig.isValidBlock(block), "MX block size must be a positive even number, got \(block)")
        self.format = format; self.block = block; self.scaleRule = scaleRule; self.rounding = rounding
    }

    /// Validates a user-given block size (positive, even, at most 2^20).
    public static func checkBlock(_ block: Int, what: String = "block size") throws {
        guard isValidBlock(block) else {
            throw MXFormatError.badOption("\(what) \(block)", allowed: "a positive even number up to \(maxBlock), e.g. 16, 32, 64, 128")
        }
    }

    public static let maxBlock = 1 << 20
    @inlinable public static func isValidBlock(_ b: Int) -> Bool { b > 0 && b % 2 == 0 && b <= maxBlock }

    /// e.g. `mxfp4_e2m1 B32 floor even`.
    public var description: String { "\(format.rawValue) B\(block) \(scaleRule.rawValue) \(rounding)" }
}

/// User-input errors of the format layer.
public enum MXFormatError: UserFacingError, Equatable {
    case unknownFormat(String)
    case badOption(String, allowed: String)
    case badData(String)

    public var description: String {
        switch self {
        case .unknownFormat(let s): return "unknown MX format '\(s)'; allowed: \(MXFormat.allowedNames)"
        case .badOption(let what, let allowed): return "invalid \(what); allowed: \(allowed)"
        case .badData(let s): return "invalid serialized MX tensor: \(s)"
        }
    }
}
