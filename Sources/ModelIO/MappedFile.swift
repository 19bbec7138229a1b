#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. The bytes stay valid while the object lives.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// File size in bytes.
    public let size: Int
    /// Start of the mapping (nil only for an empty file).
    public let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is rejected just below).
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw ModelIOError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw ModelIOError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw ModelIOError.cannotOpen(path: path, reason: "is a directory") }
        if (st.st_mode & S_IFMT) != S_IFREG { throw ModelIOError.cannotOpen(path: path, reason: "not a regular file (a device, FIFO or socket)") }
        size = Int(st.st_size)
        if size == 0 { base = nil; return }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil {
            throw ModelIOError.cannotOpen(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(p!)
    }

    deinit {
        if let b = base { munmap(UnsafeMutableRawPointer(mutating: b), size) }
    }

    /// The bytes `[offset, offset+count)`; the caller has checked the range.
    @inlinable public func bytes(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && count >= 0 && offset <= size - count, "MappedFile: unchecked range")
        guard let b = base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: b + offset, count: count)
    }
}

/// Bounds-checked little-endian cursor over a mapped file. Every read checks the range
/// and throws `ModelIOError.truncated` naming `what` was being read.
struct ByteCursor {
    let file: MappedFile
    var pos: Int

    init(_ file: MappedFile, at pos: Int = 0) { self.file = file; self.pos = pos }

    var remaining: Int { file.size - pos }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        if n < 0 || n > file.size - pos {
            throw ModelIOError.truncated(path: file.path, what: what(), needed: n < 0 ? Int.max : saturatingEnd(pos, UInt64(n)),
                                         fileSize: file.size)
        }
    }

    mutating func load<T: FixedWidthInteger>(_ t: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = file.base!.loadUnaligned(fromByteOffset: pos, as: T.self)
        pos += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func u8(_ w: @autoclosure () -> String) throws -> UInt8 { try load(UInt8.self, w()) }
    mutating func u32(_ w: @autoclosure () -> String) throws -> UInt32 { try load(UInt32.self, w()) }
    mutating func u64(_ w: @autoclosure () -> String) throws -> UInt64 { try load(UInt64.self, w()) }

    /// A GGUF string: uint64 length + UTF-8 bytes (length capped by the bytes left).
    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let w = what()
        let n = try u64("length of " + w)
        if n > UInt64(remaining) {
            throw ModelIOError.truncated(path: file.path, what: w + " (\(n) bytes)",
                                         needed: saturatingEnd(pos, n), fileSize: file.size)
        }
        let buf = file.bytes(pos, Int(n))
        pos += Int(n)
        return String(decoding: buf, as: UTF8.self)
    }
}

/// `start + count` for messages about sizes read from a file: `Int.max` when it does not fit
/// (a length field of 2^63 − 1 must give a "truncated" error, not an overflow trap).
func saturatingEnd(_ start: Int, _ count: UInt64) -> Int {
    guard start >= 0, count <= UInt64(Int.max) else { return Int.max }
    let (r, o) = start.addingReportingOverflow(Int(count))
    return o ? Int.max : r
}

/// `count * size` (a byte size computed from a count read from a file), `Int.max` on overflow.
func saturatingProduct(_ count: UInt64, _ size: Int) -> Int {
    guard count <= UInt64(Int.max), size >= 0 else { return Int.max }
    let (r, o) = Int(count).multipliedReportingOverflow(by: size)
    return o ? Int.max : r
}
