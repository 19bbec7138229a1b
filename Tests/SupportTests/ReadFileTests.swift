import XCTest
import Foundation
import TestSupport
@testable import Support

/// `readRegularFile`: whole small regular files only; everything else is a typed error, fast.
final class ReadFileTests: XCTestCase {
    func testRegularFilesOnlyAndBounded() throws {
        let dir = makeTempDir("readfile")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("a.json").path
        FileManager.default.createFile(atPath: f, contents: Data("{\"a\": 1}".utf8))
        XCTAssertEqual(try readRegularFile(f, maxBytes: 100, what: "test"), Data("{\"a\": 1}".utf8))
        let fifo = dir.appendingPathComponent("pipe").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        var cases: [(String, Int)] = [(f, 4), (dir.path, 100), (fifo, 100), (dir.appendingPathComponent("none").path, 100)]
        if FileManager.default.fileExists(atPath: "/dev/zero") { cases.append(("/dev/zero", 1 << 20)) }
        for (p, maxBytes) in cases {
            let t0 = monotonicSeconds()
            XCTAssertThrowsError(try readRegularFile(p, maxBytes: maxBytes, what: "test")) { e in
                XCTAssertTrue(e is FileReadError && "\(e)".hasPrefix(p + ": cannot read test: "), "\(e)")
            }
            XCTAssertLessThan(monotonicSeconds() - t0, 2, p)
        }
    }
}
