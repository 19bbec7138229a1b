import XCTest
import Foundation
import TestSupport
@testable import Support

/// Hashing files and checkpoint folders (issue #12 §3): regular files only, sub-folders
/// skipped, devices/FIFOs/directories a typed error naming the path (never a trap or a hang).
final class SHA256FileTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = makeTempDir("sha-files") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func put(_ name: String, _ text: String) { FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data(text.utf8)) }

    func expectTypedError(_ path: String, _ body: () throws -> String, file: StaticString = #filePath, line: UInt = #line) {
        let t0 = monotonicSeconds()
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            XCTAssertTrue(e is UserFacingError, "not a typed error: \(e)", file: file, line: line)
            XCTAssertTrue("\(e)".contains(path), "message does not name \(path): \(e)", file: file, line: line)
        }
        XCTAssertLessThan(monotonicSeconds() - t0, 2, "took too long", file: file, line: line)
    }

    func testFileHashMatchesBytes() throws {
        put("a.txt", "abc")
        XCTAssertEqual(try SHA256.hex(ofFile: dir.appendingPathComponent("a.txt")),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// Folder identity = SHA-256 of "name\n<file hash>\n" over its top-level regular files in
    /// sorted order (hidden entries skipped). Sub-folders are skipped (mxq never reads them),
    /// so adding one does not change the hash.
    func testFolderSkipsSubfoldersDeterministically() throws {
        put("b.txt", "abc")
        put("a.txt", "")
        put(".hidden", "x")
        let expected = SHA256.hex(of: Array(("a.txt\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            + "b.txt\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n").utf8))
        XCTAssertEqual(try SHA256.hex(ofFileOrFolder: dir), expected)
        let sub = dir.appendingPathComponent("original")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: sub.appendingPathComponent("big.bin").path, contents: Data([1, 2, 3]))
        XCTAssertEqual(try SHA256.hex(ofFileOrFolder: dir), expected)
    }

    /// A symlink to a regular file (Hugging Face cache snapshots) is hashed as that file.
    func testSymlinkToFileIsFollowed() throws {
        put("blob", "abc")
        let d = dir.appendingPathComponent("snap")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: d.appendingPathComponent("b.txt").path,
                                                   withDestinationPath: dir.appendingPathComponent("blob").path)
        let expected = SHA256.hex(of: Array("b.txt\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n".utf8))
        XCTAssertEqual(try SHA256.hex(ofFileOrFolder: d), expected)
    }

    func testNonRegularFilesAreTypedErrors() throws {
        // A directory passed as a file.
        expectTypedError(dir.path) { try SHA256.hex(ofFile: self.dir) }
        // A character device that never ends.
        if FileManager.default.fileExists(atPath: "/dev/zero") {
            expectTypedError("/dev/zero") { try SHA256.hex(ofFile: URL(fileURLWithPath: "/dev/zero")) }
            expectTypedError("/dev/zero") { try SHA256.hex(ofFileOrFolder: URL(fileURLWithPath: "/dev/zero")) }
        }
        // A FIFO (opening one for reading would block until a writer appears).
        let fifo = dir.appendingPathComponent("pipe").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        expectTypedError(fifo) { try SHA256.hex(ofFile: URL(fileURLWithPath: fifo)) }
        // A FIFO inside a checkpoint folder.
        put("config.json", "{}")
        expectTypedError(fifo) { try SHA256.hex(ofFileOrFolder: self.dir) }
        // Missing.
        let missing = dir.appendingPathComponent("nope").path
        expectTypedError(missing) { try SHA256.hex(ofFile: URL(fileURLWithPath: missing)) }
        expectTypedError(missing) { try SHA256.hex(ofFileOrFolder: URL(fileURLWithPath: missing)) }
    }
}
