import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file that `readRegularFile` could not (or would not) read.
public struct FileReadError: UserFacingError {
    public let path: String
    /// What the file was read as ("manifest", "config.json").
    public let what: String
    /// Why, e.g. "not a regular file", "No such file or directory".
    public let reason: String
    public var description: String { "\(path): cannot read \(what): \(reason)" }
}

/// Reads the whole of a regular file (symbolic links followed) of at most `maxBytes` bytes,
/// for small structured inputs (JSON configs, tokenizers, manifests) that are parsed whole.
/// Anything else — a missing file, a directory, a device such as /dev/zero (which never
/// ends), a FIFO (which blocks), or a file larger than `maxBytes` — throws a
/// `FileReadError` ("PATH: cannot read WHAT: REASON"), so memory stays bounded by `maxBytes`
/// whatever the path.
public func readRegularFile(_ path: String, maxBytes: Int, what: String) throws -> Data {
    func fail(_ why: String) -> FileReadError { FileReadError(path: path, what: what, reason: why) }
    var st = stat()
    guard stat(path, &st) == 0 else { throw fail(String(cString: strerror(errno))) }
    guard st.st_mode & S_IFMT == S_IFREG else { throw fail("not a regular file") }
    guard Int(st.st_size) <= maxBytes else { throw fail("\(st.st_size) bytes; at most \(maxBytes) expected") }
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { throw fail(String(cString: strerror(errno))) }
    defer { close(fd) }
    var out = Data()
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw fail(String(cString: strerror(errno)))
        }
        if n == 0 { break }
        out.append(contentsOf: buf[0..<n])
        if out.count > maxBytes { throw fail("more than \(maxBytes) bytes") }   // grew while being read
    }
    return out
}
