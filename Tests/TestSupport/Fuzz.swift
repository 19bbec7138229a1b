import Foundation
import Support

// A small deterministic mutation-fuzzing harness shared by the loader fuzz tests
// (GGUF, safetensors, tokenizer.json, manifest JSON).
//
// A mutant is a copy of a small valid input with one or more header fields overwritten.
// Each mutant goes through the real loader in-process; the only acceptable outcomes are
// a successful load or an error conforming to `UserFacingError` with a one-line message.
// A trap ends the test process, so two environment hooks exist for triage:
//   MXQ_FUZZ_TRACE=FILE   append "<format> <index> <mutation>" to FILE before each mutant
//                         (the last line names the mutant that trapped);
//   MXQ_FUZZ_SKIP=a:1,b:7 skip these mutants (to count further failures past a trap).

/// A fixed-width little-endian integer field of a binary header.
public struct BinaryField: Sendable, CustomStringConvertible {
    public let offset: Int
    /// Width in bytes: 1, 2, 4 or 8.
    public let width: Int
    public let what: String
    public init(offset: Int, width: Int, what: String) { self.offset = offset; self.width = width; self.what = what }
    public var description: String { "\(what)@\(offset)/\(width)" }
}

/// Boundary and random values for fields, and byte patching.
public enum FuzzValues {
    /// The field's value in `bytes` (little-endian).
    public static func read(_ bytes: [UInt8], _ f: BinaryField) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<f.width { v |= UInt64(bytes[f.offset + i]) << (8 * UInt64(i)) }
        return v
    }

    /// Writes the low `f.width` bytes of `v` at the field.
    public static func patch(_ bytes: inout [UInt8], _ f: BinaryField, _ v: UInt64) {
        for i in 0..<f.width { bytes[f.offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }

    /// Boundary values for a field of `width` bytes whose current value is `orig`, in a
    /// file of `fileSize` bytes: 0, 1, max−1, max, signed max/min, Int.max, UInt64.max,
    /// negative numbers as unsigned, 2^31−2, 2^32, 2^20, 2^24 − 1, 2^24, the file size ±1
    /// and the original ±1, ×2, ×1000.
    public static func boundaries(width: Int, orig: UInt64, fileSize: Int) -> [UInt64] {
        let bits = UInt64(8 * width)
        let mask: UInt64 = width == 8 ? .max : (1 << bits) - 1
        let smax: UInt64 = (1 << (bits - 1)) - 1
        var v: [UInt64] = [0, 1, mask - 1, mask, smax, smax + 1, UInt64(Int.max), UInt64(Int.max) + 1, .max,
                           UInt64(bitPattern: -2), UInt64(bitPattern: -Int64(truncatingIfNeeded: orig)),
                           (1 << 31) - 2, 1 << 31, UInt64(UInt32.max), 1 << 32, 1 << 40,
                           (1 << 24) - 1, 1 << 24, 1 << 20,          // just under/at mxq's size caps
                           UInt64(fileSize), UInt64(fileSize) + 1, UInt64(fileSize) &- 1,
                           orig &+ 1, orig &- 1, orig &* 2, orig &* 1000]
        v = v.map { $0 & mask }
        var seen = Set<UInt64>()
        return v.filter { $0 != orig && seen.insert($0).inserted }
    }

    /// A random value for a field: full-width random, small, or up to twice the file size.
    public static func random(_ g: inout SplitMix64, width: Int, fileSize: Int) -> UInt64 {
        let mask: UInt64 = width == 8 ? .max : (1 << UInt64(8 * width)) - 1
        switch g.next() % 4 {
        case 0: return g.next() & mask
        case 1: return (g.next() % 64) & mask
        case 2: return (g.next() % UInt64(2 * fileSize + 1)) & mask
        default: return (g.next() >> (g.next() % 64)) & mask
        }
    }
}

/// One mutant of a binary input: the fields changed and their new values.
public struct BinaryMutant: CustomStringConvertible {
    public var changes: [(BinaryField, UInt64)]
    public var description: String { changes.map { "\($0.0)=\(String($0.1, radix: 16))" }.joined(separator: " ") }
    public func apply(to bytes: [UInt8]) -> [UInt8] {
        var b = bytes
        for (f, v) in changes { FuzzValues.patch(&b, f, v) }
        return b
    }
}

/// Deterministic list of at least `count` mutants of `bytes` over `fields`: first every boundary
/// value of every field (single-field mutants, field by field; type fields also get every type
/// id: 0...40 for tensor types, 0...13 for metadata value types), then random values, a quarter of
/// them changing two or three fields at once.
public func binaryMutants(of bytes: [UInt8], fields: [BinaryField], count: Int, seed: UInt64) -> [BinaryMutant] {
    precondition(!fields.isEmpty)
    var out: [BinaryMutant] = []
    for f in fields {
        let orig = FuzzValues.read(bytes, f)
        var vs = FuzzValues.boundaries(width: f.width, orig: orig, fileSize: bytes.count)
        // type fields: also every valid (and the first invalid) type id, so each type is tried in each place
        let ids: [UInt64] = f.what.hasPrefix("type of tensor") ? Array(0...40)
            : f.what.hasPrefix("type of") || f.what.hasPrefix("element type of") ? Array(0...13) : []
        vs += ids.filter { $0 != orig && !vs.contains($0) }
        for v in vs { out.append(BinaryMutant(changes: [(f, v)])) }
    }
    var g = SplitMix64(seed: seed)
    while out.count < count {
        let k = g.next() % 4 == 0 ? 2 + Int(g.next() % 2) : 1
        var ch: [(BinaryField, UInt64)] = []
        for _ in 0..<k {
            let f = fields[Int(g.next() % UInt64(fields.count))]
            let useBoundary = g.next() % 2 == 0
            let bs = FuzzValues.boundaries(width: f.width, orig: FuzzValues.read(bytes, f), fileSize: bytes.count)
            let v = useBoundary && !bs.isEmpty ? bs[Int(g.next() % UInt64(bs.count))]
                                                : FuzzValues.random(&g, width: f.width, fileSize: bytes.count)
            ch.append((f, v))
        }
        out.append(BinaryMutant(changes: ch))
    }
    return out
}

// MARK: JSON token mutation

/// A scalar token of a JSON text (number, string, true/false/null) with its UTF-8 byte range.
public struct JSONToken: Sendable {
    public enum Kind: Sendable { case number, string, literal }
    public let kind: Kind
    public let range: Range<Int>
    /// Whether a string token is an object key.
    public let isKey: Bool
}

/// The scalar tokens of `text` (assumed valid JSON, as written by the test itself).
public func jsonTokens(_ text: [UInt8]) -> [JSONToken] {
    var out: [JSONToken] = []
    var i = 0
    while i < text.count {
        let c = text[i]
        if c == UInt8(ascii: "\"") {
            var j = i + 1
            while j < text.count && text[j] != UInt8(ascii: "\"") { j += text[j] == UInt8(ascii: "\\") ? 2 : 1 }
            var k = j + 1
            while k < text.count && (text[k] == 0x20 || text[k] == 0x0A || text[k] == 0x09) { k += 1 }
            out.append(JSONToken(kind: .string, range: i..<(j + 1), isKey: k < text.count && text[k] == UInt8(ascii: ":")))
            i = j + 1
        } else if c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) {
            var j = i + 1
            while j < text.count, "0123456789.eE+-".utf8.contains(text[j]) { j += 1 }
            out.append(JSONToken(kind: .number, range: i..<j, isKey: false)); i = j
        } else if c == UInt8(ascii: "t") || c == UInt8(ascii: "f") || c == UInt8(ascii: "n") {
            var j = i + 1
            while j < text.count, text[j] >= UInt8(ascii: "a") && text[j] <= UInt8(ascii: "z") { j += 1 }
            out.append(JSONToken(kind: .literal, range: i..<j, isKey: false)); i = j
        } else { i += 1 }
    }
    return out
}

/// Replacement texts for a JSON value token: numeric boundaries (0, ±1, 2^31−2, 2^31, 2^53+1,
/// Int.max, 2^64, 1e308, 1e400, fractions, −0), other types, and odd strings.
public let jsonBoundaryValues: [String] = [
    "0", "1", "-1", "2", "2147483646", "2147483647", "2147483648", "4294967295", "4294967296",
    "16777215", "16777216", "1048576", "9007199254740993", "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "18446744073709551616", "-9223372036854775808", "1e308", "1e400", "-1e400", "1.5", "-0", "0.0", "1e-400",
    "100000000000000000000000000000000000000000", "null", "true", "false", "[]", "{}", "[0]", "{\"a\":1}",
    "\"\"", "\"0\"", "\" \"", "\"a b\"", "\"a  b\"", "\"a\"", "\"\\u0000\"", "\"\\ud800\"", "\"none\"", "\"all\"",
]

/// One mutant of a JSON text: token `token` replaced by `replacement` (or the token
/// duplicated/removed in an array when `replacement` is nil: see `apply`).
public struct JSONMutant: CustomStringConvertible {
    public let token: Int
    public let replacement: String
    public let second: (Int, String)?
    public var description: String {
        "token#\(token)=\(replacement.prefix(40))" + (second.map { " token#\($0.0)=\($0.1.prefix(40))" } ?? "")
    }

    public func apply(to text: [UInt8], tokens: [JSONToken]) -> [UInt8] {
        var edits = [(tokens[token].range, replacement)]
        if let s = second, s.0 != token { edits.append((tokens[s.0].range, s.1)) }
        var b = text
        for (r, s) in edits.sorted(by: { $0.0.lowerBound > $1.0.lowerBound }) { b.replaceSubrange(r, with: Array(s.utf8)) }
        return b
    }
}

/// Deterministic JSON mutants: every token gets boundary values round-robin first, then
/// random picks (a value from the boundary list, another token's text, a random integer),
/// a quarter of them changing two tokens. Keys are replaced only by strings.
public func jsonMutants(of text: [UInt8], count: Int, seed: UInt64) -> (tokens: [JSONToken], mutants: [JSONMutant]) {
    let toks = jsonTokens(text)
    precondition(!toks.isEmpty)
    var g = SplitMix64(seed: seed)
    func pick(_ t: JSONToken) -> String {
        let strings = jsonBoundaryValues.filter { $0.hasPrefix("\"") }
        switch g.next() % 4 {
        case 0, 1:
            return t.isKey ? strings[Int(g.next() % UInt64(strings.count))]
                           : jsonBoundaryValues[Int(g.next() % UInt64(jsonBoundaryValues.count))]
        case 2:
            let o = toks[Int(g.next() % UInt64(toks.count))]
            if t.isKey && o.kind != .string { return "\"k\"" }
            return String(decoding: text[o.range], as: UTF8.self)
        default:
            if t.isKey { return "\"\(g.next() % 1000)\"" }
            return String(Int64(bitPattern: g.next()) >> (g.next() % 64))
        }
    }
    var out: [JSONMutant] = []
    var r = 0
    while out.count < count {
        let ti: Int, rep: String
        if r < toks.count * 4 {
            // systematic: token r % n, boundary value (r / n) spread over the list
            ti = r % toks.count
            let t = toks[ti]
            let strings = jsonBoundaryValues.filter { $0.hasPrefix("\"") }
            let pool = t.isKey ? strings : jsonBoundaryValues
            rep = pool[(r / toks.count * 7 + ti) % pool.count]
        } else {
            ti = Int(g.next() % UInt64(toks.count))
            rep = pick(toks[ti])
        }
        var second: (Int, String)? = nil
        if r >= toks.count * 4 && g.next() % 4 == 0 {
            let tj = Int(g.next() % UInt64(toks.count))
            second = (tj, pick(toks[tj]))
        }
        out.append(JSONMutant(token: ti, replacement: rep, second: second))
        r += 1
    }
    return (toks, out)
}

// MARK: running

/// Outcome counts of a fuzz run.
public struct FuzzTally: CustomStringConvertible {
    public var loaded = 0, rejected = 0, skipped = 0
    /// Mutants whose outcome was not acceptable (untyped error, multi-line message, too slow).
    public var failures: [String] = []
    public var maxSeconds = 0.0
    public init() {}
    public var description: String {
        "\(loaded) loaded, \(rejected) rejected with a typed error, \(skipped) skipped, \(failures.count) failures, slowest \(String(format: "%.3f", maxSeconds)) s"
    }
}

/// Runs `body` for each mutant index in `0..<count` under the trace/skip hooks, classifying
/// the outcome. `body` returns normally for a successful load and throws otherwise.
/// `multiLineMessages` allows errors listing several problems on several lines (manifests).
public func runFuzz(format: String, count: Int, maxSecondsPerMutant: Double = 5, multiLineMessages: Bool = false,
                    describe: (Int) -> String, _ body: (Int) throws -> Void) -> FuzzTally {
    let env = ProcessInfo.processInfo.environment
    let skip = Set((env["MXQ_FUZZ_SKIP"] ?? "").split(separator: ",").map(String.init))
    let trace = env["MXQ_FUZZ_TRACE"].flatMap { p -> FileHandle? in
        if !FileManager.default.fileExists(atPath: p) { FileManager.default.createFile(atPath: p, contents: nil) }
        let h = FileHandle(forWritingAtPath: p); h?.seekToEndOfFile(); return h
    }
    var t = FuzzTally()
    for i in 0..<count {
        if skip.contains("\(format):\(i)") { t.skipped += 1; continue }
        if let h = trace { h.write(Data("\(format) \(i) \(describe(i))\n".utf8)); h.synchronizeFile() }
        let t0 = monotonicSeconds()
        do {
            try body(i)
            t.loaded += 1
        } catch let e as UserFacingError {
            t.rejected += 1
            let msg = e.description
            if msg.contains("\n") && !multiLineMessages {
                t.failures.append("\(format) #\(i) \(describe(i)): multi-line message: \(msg.prefix(300))")
            }
        } catch {
            t.failures.append("\(format) #\(i) \(describe(i)): untyped error \(type(of: error)): \(error)")
        }
        let dt = monotonicSeconds() - t0
        t.maxSeconds = max(t.maxSeconds, dt)
        if dt > maxSecondsPerMutant {
            t.failures.append("\(format) #\(i) \(describe(i)): took \(String(format: "%.1f", dt)) s")
        }
    }
    try? trace?.close()
    return t
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`), or nil elsewhere.
public func peakRSSBytes() -> Int? {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
    }
    return nil
}

// MARK: GGUF header walking

/// Every integer field of a GGUF file the test wrote: version, counts, key lengths, value
/// types, integer values, array element types and lengths (the first three and the last
/// element of each array), tensor name lengths, dimension counts, dimensions, types, offsets.
public func ggufFields(_ b: [UInt8]) -> [BinaryField] {
    var p = 0
    func u64() -> UInt64 { let v = FuzzValues.read(b, BinaryField(offset: p, width: 8, what: "")); p += 8; return v }
    func u32() -> UInt32 { let v = FuzzValues.read(b, BinaryField(offset: p, width: 4, what: "")); p += 4; return UInt32(v) }
    var fields: [BinaryField] = [BinaryField(offset: 4, width: 4, what: "version"),
                                 BinaryField(offset: 8, width: 8, what: "tensor count"),
                                 BinaryField(offset: 16, width: 8, what: "kv count")]
    p = 8
    let nT = Int(u64()), nKV = Int(u64())
    func value(_ t: UInt32, _ what: String, record: Bool) {
        let widths: [UInt32: Int] = [0: 1, 1: 1, 7: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 10: 8, 11: 8, 12: 8]
        if let w = widths[t] {
            if record && t != 6 && t != 12 { fields.append(BinaryField(offset: p, width: w, what: what)) }
            p += w
        } else if t == 8 {
            if record { fields.append(BinaryField(offset: p, width: 8, what: "length of " + what)) }
            let n = Int(u64()); p += n
        } else {
            precondition(t == 9)
            if record { fields.append(BinaryField(offset: p, width: 4, what: "element type of " + what)) }
            let et = u32()
            if record { fields.append(BinaryField(offset: p, width: 8, what: "count of " + what)) }
            let n = Int(u64())
            for i in 0..<n { value(et, "\(what)[\(i)]", record: record && (i < 3 || i == n - 1)) }
        }
    }
    for k in 0..<nKV {
        fields.append(BinaryField(offset: p, width: 8, what: "key length #\(k)"))
        let n = Int(u64())
        let key = String(decoding: b[p..<(p + n)], as: UTF8.self); p += n
        fields.append(BinaryField(offset: p, width: 4, what: "type of \(key)"))
        value(u32(), key, record: true)
    }
    for i in 0..<nT {
        fields.append(BinaryField(offset: p, width: 8, what: "name length of tensor #\(i)"))
        let n = Int(u64()); p += n
        fields.append(BinaryField(offset: p, width: 4, what: "dim count of tensor #\(i)"))
        let nd = Int(u32())
        for d in 0..<nd { fields.append(BinaryField(offset: p, width: 8, what: "dim \(d) of tensor #\(i)")); p += 8 }
        fields.append(BinaryField(offset: p, width: 4, what: "type of tensor #\(i)")); p += 4
        fields.append(BinaryField(offset: p, width: 8, what: "offset of tensor #\(i)")); p += 8
    }
    return fields
}


/// Writes `bytes` to `path` in place (no temporary file, no rename: fast for thousands of mutants).
public func writeFuzzFile(_ bytes: [UInt8], to path: String) {
    guard let fp = fopen(path, "wb") else { fatalError("cannot write \(path)") }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, fp) }
    fclose(fp)
}

/// A fresh directory for mutant files: in /dev/shm when available (thousands of rewrites of
/// a small file cost disk I/O on /tmp), else the usual temporary directory.
public func fuzzScratchDir(_ prefix: String) -> URL {
    let shm = URL(fileURLWithPath: "/dev/shm")
    if access(shm.path, W_OK) == 0 {
        let u = shm.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        if (try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)) != nil { return u }
    }
    return makeTempDir(prefix)
}
