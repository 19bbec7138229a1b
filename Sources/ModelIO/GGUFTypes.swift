/// A ggml tensor storage type as stored in GGUF tensor infos (`ggml_type`).
/// Known ids carry a name and block geometry; only some can be converted to fp32
/// (`isReadable`).
public struct GGMLType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGMLType(rawValue: 0)
    public static let f16 = GGMLType(rawValue: 1)
    public static let q4_0 = GGMLType(rawValue: 2)
    public static let q4_1 = GGMLType(rawValue: 3)
    public static let q5_0 = GGMLType(rawValue: 6)
    public static let q5_1 = GGMLType(rawValue: 7)
    public static let q8_0 = GGMLType(rawValue: 8)
    public static let q8_1 = GGMLType(rawValue: 9)
    public static let q2_K = GGMLType(rawValue: 10)
    public static let q3_K = GGMLType(rawValue: 11)
    public static let q4_K = GGMLType(rawValue: 12)
    public static let q5_K = GGMLType(rawValue: 13)
    public static let q6_K = GGMLType(rawValue: 14)
    public static let q8_K = GGMLType(rawValue: 15)
    public static let bf16 = GGMLType(rawValue: 30)

    /// (name, elements per block, bytes per block) for every ggml type id we know.
    static let table: [UInt32: (String, Int, Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
        6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
        10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
        14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
        18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
        22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
        26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
        30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
    ]

    /// Types `GGUFFile.tensorF32` converts to fp32.
    public static let readable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1]

    /// ggml's name ("Q4_1"), or "type#N" for an unknown id.
    public var name: String { Self.table[rawValue]?.0 ?? "type#\(rawValue)" }
    public var description: String { name }
    /// Whether the id is a ggml type this reader knows the size of.
    public var isKnown: Bool { Self.table[rawValue] != nil }
    /// Elements per block (1 for plain types); 0 if unknown.
    public var blockSize: Int { Self.table[rawValue]?.1 ?? 0 }
    /// Bytes per block; 0 if unknown.
    public var bytesPerBlock: Int { Self.table[rawValue]?.2 ?? 0 }
    /// Whether `tensorF32` can convert this type.
    public var isReadable: Bool { Self.readable.contains(self) }
}

/// GGUF metadata value type ids (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable, Hashable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6,
         bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

/// One GGUF metadata value. Arrays keep their element type (so empty arrays round-trip)
/// and may nest.
public indirect enum GGUFValue: Equatable, Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// Any integer type as `Int` (nil if not an integer or out of Int range).
    public var int: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return v <= UInt64(Int.max) ? Int(v) : nil
        case let .int64(v): return Int(v)
        default: return nil
        }
    }
    /// Any float or integer type as `Double`.
    public var double: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return int.map(Double.init)
        }
    }
    public var string: String? { if case let .string(s) = self { return s } else { return nil } }
    public var bool: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    /// The elements of an array value.
    public var array: [GGUFValue]? { if case let .array(_, a) = self { return a } else { return nil } }
    /// An array of strings (nil if not an array or any element is not a string).
    public var stringArray: [String]? {
        guard case let .array(_, a) = self else { return nil }
        var out = [String](); out.reserveCapacity(a.count)
        for v in a { guard case let .string(s) = v else { return nil }; out.append(s) }
        return out
    }
    /// An array of integers as `Int`.
    public var intArray: [Int]? {
        guard case let .array(_, a) = self else { return nil }
        var out = [Int](); out.reserveCapacity(a.count)
        for v in a { guard let i = v.int else { return nil }; out.append(i) }
        return out
    }
    /// An array of numbers as `Double`.
    public var doubleArray: [Double]? {
        guard case let .array(_, a) = self else { return nil }
        var out = [Double](); out.reserveCapacity(a.count)
        for v in a { guard let d = v.double else { return nil }; out.append(d) }
        return out
    }

    public var description: String {
        switch self {
        case let .string(s): return s.count > 60 ? "\"\(s.prefix(60))…\"" : "\"\(s)\""
        case let .array(t, a):
            let head = a.prefix(4).map { $0.description }.joined(separator: ", ")
            return "[\(t) × \(a.count)]" + (a.isEmpty ? "" : " [\(head)\(a.count > 4 ? ", …" : "")]")
        case let .bool(b): return "\(b)"
        case let .float32(v): return "\(v)"
        case let .float64(v): return "\(v)"
        case let .uint8(v): return "\(v)"
        case let .int8(v): return "\(v)"
        case let .uint16(v): return "\(v)"
        case let .int16(v): return "\(v)"
        case let .uint32(v): return "\(v)"
        case let .int32(v): return "\(v)"
        case let .uint64(v): return "\(v)"     // may exceed Int.max: not via `int`
        case let .int64(v): return "\(v)"
        }
    }
}

/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions in GGUF order: `dims[0]` (ggml `ne[0]`) varies fastest.
    public let dims: [Int]
    public let type: GGMLType
    /// Offset of the data relative to the start of the data section.
    public let offset: Int
    /// Number of elements (product of dims).
    public let elementCount: Int
    /// Bytes of stored data.
    public let byteCount: Int
    /// Row-major (PyTorch) shape: `dims` reversed.
    public var shape: [Int] { dims.reversed() }
}
