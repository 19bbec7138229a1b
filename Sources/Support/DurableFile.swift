import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes `data` to `url` atomically and durably: a temporary file in the same folder
/// is written, fsync'ed and renamed over `url`, then the folder is fsync'ed. A reader
/// (or a process killed at any moment) sees either the old or the new file, never a part.
/// `exclusive`: the file must not exist yet (it is linked into place, which fails if it does).
public func writeDurably(_ data: Data, to url: URL, exclusive: Bool = false) throws {
    let dir = url.deletingLastPathComponent().path
    let tmp = dir + "/.tmp-\(getpid())-" + url.lastPathComponent
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw UsageError("cannot write \(tmp): \(String(cString: strerror(errno)))") }
    var ok = true
    data.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n <= 0 { ok = false; break }
            off += n
        }
    }
    if fsync(fd) != 0 { ok = false }
    close(fd)
    guard ok else { unlink(tmp); throw UsageError("cannot write \(url.path): \(String(cString: strerror(errno)))") }
    if exclusive {
        let rc = link(tmp, url.path)
        let err = errno
        unlink(tmp)
        guard rc == 0 else {
            throw UsageError(err == EEXIST ? "\(url.path) already exists (another process created it)"
                                            : "cannot create \(url.path): \(String(cString: strerror(err)))")
        }
    } else {
        guard rename(tmp, url.path) == 0 else {
            unlink(tmp); throw UsageError("cannot rename \(tmp) to \(url.path): \(String(cString: strerror(errno)))")
        }
    }
    let dfd = open(dir, O_RDONLY)
    if dfd >= 0 { _ = fsync(dfd); close(dfd) }
}


/// Removes the temporary files `writeDurably` leaves in `dir` when its process is killed
/// (`.tmp-<pid>-*` whose process no longer exists); files of live processes are kept.
public func removeStaleTemporaries(in dir: URL) {
    for n in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where n.hasPrefix(".tmp-") {
        let pidText = n.dropFirst(5).prefix { $0.isNumber }
        if let pid = Int32(pidText), pid != getpid(), kill(pid, 0) == 0 || errno == EPERM { continue }
        try? FileManager.default.removeItem(at: dir.appendingPathComponent(n))
    }
}
