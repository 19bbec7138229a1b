import Foundation
import MXKernelsC
#if canImport(Glibc)
import Glibc
#endif

/// Streaming SHA-256 (FIPS 180-4). Feed bytes with `update`, read the digest with
/// `finalize()`. Used for provenance (model, data and manifest hashes); not constant-time.
public struct SHA256: Sendable {
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    private var buffer = [UInt8](repeating: 0, count: 64)
    private var buffered = 0
    private var totalBytes: UInt64 = 0

    /// Whether this hasher compresses whole blocks with the SHA extensions.
    private var useHardware = SHA256.hardware

    public init() {}

    /// `software`: always the Swift compression (benchmarks compare the two; same digest).
    public init(software: Bool) { useHardware = !software && Self.hardware }

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    private mutating func compress(_ p: UnsafePointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in compress(p, w) }
    }

    private mutating func compress(_ p: UnsafePointer<UInt8>, _ w: UnsafeMutableBufferPointer<UInt32>) {
        for i in 0..<16 {
            w[i] = UInt32(p[4 * i]) << 24 | UInt32(p[4 * i + 1]) << 16 | UInt32(p[4 * i + 2]) << 8 | UInt32(p[4 * i + 3])
        }
        for i in 16..<64 {
            let s0 = Self.rotr(w[i - 15], 7) ^ Self.rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = Self.rotr(w[i - 2], 17) ^ Self.rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var (a, b, c, d, e, f, g, hh) = h
        let kk = Self.k
        for i in 0..<64 {
            let s1 = Self.rotr(e, 6) ^ Self.rotr(e, 11) ^ Self.rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ ch &+ kk[i] &+ w[i]
            let s0 = Self.rotr(a, 2) ^ Self.rotr(a, 13) ^ Self.rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
        }
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e, h.5 &+ f, h.6 &+ g, h.7 &+ hh)
    }

    /// Whether whole blocks go through the x86 SHA extensions (`mxq_sha256_blocks`, the same
    /// digest; 6.2× the Swift compression in `mxq bench ptq`) rather than `compress`.
    public static let hardware = mxq_sha256_supported() != 0

    /// Compresses `count` consecutive 64-byte blocks.
    private mutating func compressBlocks(_ p: UnsafePointer<UInt8>, count: Int) {
        if count <= 0 { return }
        if useHardware {
            var s: [UInt32] = [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7]
            s.withUnsafeMutableBufferPointer { st in Self.k.withUnsafeBufferPointer { mxq_sha256_blocks(st.baseAddress!, p, count, $0.baseAddress!) } }
            h = (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
            return
        }
        for i in 0..<count { compress(p + 64 * i) }
    }

    /// The state words a..h after compressing `data` (whole blocks) from the initial state with
    /// the Swift compression (`software`) or the SHA extensions; nil for the latter when the CPU
    /// lacks them. For tests that compare the two block by block.
    static func blockState(_ data: [UInt8], software: Bool) -> [UInt32]? {
        precondition(data.count % 64 == 0)
        if !software && !hardware { return nil }
        var s = SHA256(software: software)
        data.withUnsafeBufferPointer { s.compressBlocks($0.baseAddress!, count: data.count / 64) }
        return [s.h.0, s.h.1, s.h.2, s.h.3, s.h.4, s.h.5, s.h.6, s.h.7]
    }

    /// Absorbs `bytes` (any length; call as often as needed).
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var n = bytes.count
        totalBytes &+= UInt64(n)
        if buffered > 0 {
            let take = min(64 - buffered, n)
            for i in 0..<take { buffer[buffered + i] = p[i] }
            buffered += take; p += take; n -= take
            if buffered == 64 {
                let b = buffer
                b.withUnsafeBufferPointer { compressBlocks($0.baseAddress!, count: 1) }
                buffered = 0
            }
        }
        let whole = n / 64
        compressBlocks(p, count: whole)
        p += 64 * whole; n -= 64 * whole
        for i in 0..<n { buffer[i] = p[i] }
        buffered += n
    }

    public mutating func update<D: DataProtocol>(_ data: D) {
        for region in data.regions { region.withUnsafeBytes { update($0) } }
    }

    public mutating func update(_ string: String) { update(Array(string.utf8)) }

    /// Pads, processes the last block(s) and returns the 32-byte digest.
    public mutating func finalize() -> [UInt8] {
        let bitLength = totalBytes &* 8
        var pad: [UInt8] = [0x80]
        let padZeros = (buffered + 1 <= 56) ? 56 - buffered - 1 : 120 - buffered - 1
        pad += [UInt8](repeating: 0, count: padZeros)
        for i in (0..<8).reversed() { pad.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        let saved = totalBytes
        update(pad)
        totalBytes = saved
        precondition(buffered == 0)
        var out: [UInt8] = []
        for v in [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7] {
            out += [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
        }
        return out
    }

    /// Lower-case hex of `finalize()`.
    public mutating func finalizeHex() -> String { Self.hex(finalize()) }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var s = [UInt8](); s.reserveCapacity(bytes.count * 2)
        for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return String(decoding: s, as: UTF8.self)
    }

    /// Hex digest of a byte sequence.
    public static func hex<D: DataProtocol>(of data: D) -> String {
        var s = SHA256(); s.update(data); return s.finalizeHex()
    }

    /// What kind of file `st` describes, for messages ("a directory", "a FIFO", …).
    private static func kind(_ st: stat) -> String {
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "not a regular file"
        }
    }

    private static func statFollowing(_ path: String) throws -> stat {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw UsageError("cannot hash \(path): \(String(cString: strerror(errno)))")
        }
        return st
    }

    /// Hex digest of a regular file (symbolic links followed), read with `read(2)` in 4 MiB
    /// chunks (memory stays bounded). Anything else — a directory, a device such as
    /// `/dev/zero` (which never ends), a FIFO (opening one blocks until a writer comes), a
    /// socket — is a `UsageError` naming the path, as are read errors.
    public static func hex(ofFile url: URL) throws -> String {
        let path = url.path
        let st0 = try statFollowing(path)
        guard st0.st_mode & S_IFMT == S_IFREG else {
            throw UsageError("cannot hash \(path): it is \(kind(st0)); expected a regular file")
        }
        // O_NONBLOCK: should the path have been replaced by a FIFO since the stat, open returns at once.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw UsageError("cannot hash \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw UsageError("cannot hash \(path): it is \(kind(st)); expected a regular file")
        }
        var s = SHA256()
        var buf = [UInt8](repeating: 0, count: 4 << 20)
        try buf.withUnsafeMutableBytes { b in
            while true {
                let n = read(fd, b.baseAddress, b.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw UsageError("cannot hash \(path): read failed: \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                s.update(UnsafeRawBufferPointer(rebasing: b[0..<n]))
            }
        }
        return s.finalizeHex()
    }

    /// Hash of a model: of the file itself, or for a checkpoint folder of the sorted list of
    /// "name\n<file hash>\n" of its top-level regular files (symbolic links followed; hidden
    /// entries skipped). Sub-folders are skipped, not recursed into: mxq reads only a folder's
    /// top-level files (config.json, *.safetensors, tokenizer files), and checkpoint folders
    /// often carry large sub-folders it never reads (`original/`, `onnx/`). A device, FIFO or
    /// socket in the folder is a `UsageError` naming it. Used as the model's identity in
    /// provenance columns and the PTQ cache keys.
    public static func hex(ofFileOrFolder url: URL) throws -> String {
        let st = try statFollowing(url.path)
        guard st.st_mode & S_IFMT == S_IFDIR else { return try hex(ofFile: url) }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() } catch {
            throw UsageError("cannot hash folder \(url.path): \(error.localizedDescription)")
        }
        var s = SHA256()
        for n in names where !n.hasPrefix(".") {
            let entry = url.appendingPathComponent(n)
            if try statFollowing(entry.path).st_mode & S_IFMT == S_IFDIR { continue }
            s.update(n + "\n" + (try hex(ofFile: entry)) + "\n")
        }
        return s.finalizeHex()
    }
}
