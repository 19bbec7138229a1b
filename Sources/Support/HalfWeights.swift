// Read-only 16-bit floating-point tensors (bf16 or IEEE binary16) that stay 16-bit in memory:
// either a view into a memory-mapped checkpoint (kept alive by `owner`) or an owned copy.
// Widening either format to fp32 is exact.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The two 16-bit float formats checkpoints store.
public enum HalfFormat: String, Sendable, Hashable {
    /// bfloat16: the top 16 bits of an fp32 (8 exponent bits, 7 mantissa bits).
    case bf16
    /// IEEE binary16 (5 exponent bits, 10 mantissa bits).
    case f16
}

/// bfloat16 bits → Float (exact).
@inlinable @inline(__always)
public func widenBF16(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

/// IEEE binary16 bits → Float (exact for every finite value, ±Inf; NaN stays NaN).
@inlinable @inline(__always)
public func widenF16(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32((h >> 10) & 0x1F)
    let mant = UInt32(h & 0x3FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        let v = Float(mant) * (1.0 / 16_777_216.0)        // mant · 2^-24, exact
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// Whether `x` is exactly a bfloat16 value (its low 16 bits are zero).
@inlinable @inline(__always)
public func isExactBF16(_ x: Float) -> Bool { x.bitPattern & 0xFFFF == 0 }

/// `count` 16-bit values (little-endian host order, as safetensors and GGUF store them), row-major
/// by the caller's convention. The storage is either a view into memory owned by `owner` (a
/// memory-mapped file: `isMapped`) or an owned array. Value type; the bytes are never written.
public struct HalfWeights: @unchecked Sendable {
    public let format: HalfFormat
    public let count: Int
    /// First value (2-byte aligned).
    public let base: UnsafePointer<UInt16>
    /// Keeps `base` valid (a mapping or an `OwnedHalfStorage`).
    public let owner: AnyObject
    /// True when `base` points into a memory-mapped file.
    public let isMapped: Bool

    /// A view of `count` values at `base` (2-byte aligned) kept alive by `owner`.
    public init(format: HalfFormat, base: UnsafePointer<UInt16>, count: Int, owner: AnyObject, isMapped: Bool) {
        precondition(count >= 0 && Int(bitPattern: base) % 2 == 0, "HalfWeights: unaligned or negative count")
        self.format = format; self.base = base; self.count = count; self.owner = owner; self.isMapped = isMapped
    }

    /// An owned copy of `bits`.
    public init(format: HalfFormat, bits: [UInt16]) {
        let o = OwnedHalfStorage(bits)
        self.init(format: format, base: UnsafePointer(o.pointer), count: bits.count, owner: o, isMapped: false)
    }

    /// An owned copy of `count` values read (unaligned) from `raw`.
    public init(format: HalfFormat, copying raw: UnsafeRawPointer, count: Int) {
        let o = OwnedHalfStorage(count: count)
        if count > 0 { UnsafeMutableRawPointer(o.pointer).copyMemory(from: raw, byteCount: 2 * count) }
        self.init(format: format, base: UnsafePointer(o.pointer), count: count, owner: o, isMapped: false)
    }

    /// Value `i` widened to fp32 (exact).
    @inlinable public subscript(i: Int) -> Float {
        precondition(i >= 0 && i < count)
        return format == .bf16 ? widenBF16(base[i]) : widenF16(base[i])
    }

    /// All values widened to fp32 (exact): a new [count] array.
    public func widened() -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buf, n in
            let d = buf.baseAddress!
            switch format {
            case .bf16: for i in 0..<count { d[i] = widenBF16(base[i]) }
            case .f16: for i in 0..<count { d[i] = widenF16(base[i]) }
            }
            n = count
        }
    }

    /// The first non-finite value (index, widened value), or nil. Reads every value.
    public func firstNonFinite() -> (index: Int, value: Float)? {
        let mask: UInt16 = format == .bf16 ? 0x7F80 : 0x7C00
        for i in 0..<count where base[i] & mask == mask { return (i, self[i]) }
        return nil
    }

    /// bf16 bits of `values` when every value is exactly a bfloat16, else nil.
    public static func exactBF16(_ values: [Float]) -> HalfWeights? {
        var ok = true
        let bits = [UInt16](unsafeUninitializedCapacity: values.count) { buf, n in
            values.withUnsafeBufferPointer { v in
                for i in 0..<v.count {
                    if !isExactBF16(v[i]) { ok = false }
                    buf[i] = UInt16(truncatingIfNeeded: v[i].bitPattern >> 16)
                }
            }
            n = values.count
        }
        return ok ? HalfWeights(format: .bf16, bits: bits) : nil
    }

    /// For a mapped view: tells the kernel this process does not need the pages wholly inside the
    /// values' bytes for now (`madvise(MADV_DONTNEED)`), so they leave the resident set; a later
    /// read maps them in again from the file (the bytes are unchanged: the mapping is read-only
    /// and private, never written). No effect on owned storage.
    public func releaseResidentPages() {
        guard isMapped, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let start = Int(bitPattern: base), end = start + 2 * count
        let a = (start + page - 1) / page * page, b = end / page * page
        if b > a { _ = madvise(UnsafeMutableRawPointer(bitPattern: a), b - a, Int32(MADV_DONTNEED)) }
    }
}

/// Owned, 2-byte aligned storage of a `HalfWeights`.
public final class OwnedHalfStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<UInt16>
    public let count: Int
    init(count: Int) {
        self.count = count
        pointer = UnsafeMutablePointer<UInt16>.allocate(capacity: max(count, 1))
    }
    convenience init(_ bits: [UInt16]) {
        self.init(count: bits.count)
        bits.withUnsafeBufferPointer { if let b = $0.baseAddress { pointer.update(from: b, count: bits.count) } }
    }
    deinit { pointer.deallocate() }
}
