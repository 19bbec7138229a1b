import XCTest
import Support
@testable import ModelIO

final class HalfTests: XCTestCase {
    /// Our bit-level fp16 decoder against the standard library's Float16 for all 65536 patterns.
    func testHalfDecodeMatchesFloat16ForEveryPattern() {
        for b in 0...0xFFFF {
            let h = UInt16(b)
            let ours = widenF16(h), std = Float(Float16(bitPattern: h))
            if std.isNaN { XCTAssertTrue(ours.isNaN, "bits \(b)"); continue }
            XCTAssertEqual(ours.bitPattern, std.bitPattern, "bits \(b)")
            XCTAssertEqual(Dequant.halfTable[b].bitPattern, ours.bitPattern)
        }
    }

    /// Hand-known values: 0x3C00 = 1, 0xC000 = -2, 0x7BFF = 65504, 0x0001 = 2^-24, 0x3555 ≈ 0.33325195.
    func testHalfKnownValues() {
        XCTAssertEqual(widenF16(0x3C00), 1)
        XCTAssertEqual(widenF16(0xC000), -2)
        XCTAssertEqual(widenF16(0x7BFF), 65504)
        XCTAssertEqual(widenF16(0x0001), Float(pow(2.0, -24.0)))
        XCTAssertEqual(widenF16(0x3555), 0.333251953125)
        XCTAssertEqual(widenF16(0x7C00), .infinity)
        XCTAssertEqual(floatToHalfBits(1), 0x3C00)
        XCTAssertEqual(floatToHalfBits(70000), 0x7C00)
    }

    /// bf16 is the top 16 bits of fp32: 0x3F80 = 1, 0xC040 = -3; rounding to nearest even.
    func testBF16() {
        XCTAssertEqual(widenBF16(0x3F80), 1)
        XCTAssertEqual(widenBF16(0xC040), -3)
        XCTAssertEqual(floatToBF16Bits(1), 0x3F80)
        // 1 + 2^-8 is halfway between bf16 1 (0x3F80) and 1+2^-7 (0x3F81): ties to even → 0x3F80.
        XCTAssertEqual(floatToBF16Bits(1 + 1.0 / 256), 0x3F80)
        // 1 + 3·2^-8 is halfway between 0x3F81 and 0x3F82: ties to even → 0x3F82.
        XCTAssertEqual(floatToBF16Bits(1 + 3.0 / 256), 0x3F82)
        XCTAssertTrue(widenBF16(floatToBF16Bits(.nan)).isNaN)
    }
}
