import XCTest
import Foundation
@testable import Support

/// FIPS 180-2 Appendix B / NIST CSRC example vectors for SHA-256.
final class SHA256Tests: XCTestCase {
    func testFIPSVectors() {
        XCTAssertEqual(SHA256.hex(of: Array("abc".utf8)),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(of: Array("".utf8)),
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(of: Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8)),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testMillionAs() {
        var s = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { s.update(chunk) }
        XCTAssertEqual(s.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The SHA-extension compression (used for whole blocks where the CPU has it) leaves the
    /// same state as the Swift compression, block by block, on random data of 1…37 blocks; the
    /// FIPS vectors above then hold through whichever path this CPU takes.
    func testHardwareCompressionIsTheSwiftCompression() throws {
        guard SHA256.hardware else { throw XCTSkip("no SHA extensions on this CPU: the Swift compression runs") }
        var rng = SplitMix64(seed: 42)
        for blocks in [1, 2, 3, 16, 37] {
            let data = (0..<(64 * blocks)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            XCTAssertEqual(SHA256.blockState(data, software: false), SHA256.blockState(data, software: true), "\(blocks) blocks")
        }
        // all-zero and all-one bytes (carries in every addition)
        XCTAssertEqual(SHA256.blockState([UInt8](repeating: 0, count: 128), software: false), SHA256.blockState([UInt8](repeating: 0, count: 128), software: true))
        XCTAssertEqual(SHA256.blockState([UInt8](repeating: 0xFF, count: 128), software: false), SHA256.blockState([UInt8](repeating: 0xFF, count: 128), software: true))
    }

    /// Streaming in odd-sized pieces gives the one-shot digest (pieces cross block boundaries).
    func testStreamingSplitsAgree() {
        let msg = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        for split in [1, 3, 7, 55, 56, 57, 63, 64] {
            var s = SHA256()
            var i = 0
            while i < msg.count { let j = min(msg.count, i + split); s.update(Array(msg[i..<j])); i = j }
            XCTAssertEqual(s.finalizeHex(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "split \(split)")
        }
    }

    func testFileHash() throws {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        try Data("abc".utf8).write(to: u)
        defer { try? FileManager.default.removeItem(at: u) }
        XCTAssertEqual(try SHA256.hex(ofFile: u), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
