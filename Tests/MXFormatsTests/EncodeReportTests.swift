import XCTest
@testable import MXFormats

/// The `mxq encode` JSON contract, with expected strings derived by hand from the spec.
final class EncodeReportTests: XCTestCase {
    func testJSONOfHandVector() throws {
        // MXFP4, B=4: [1 2 3 6.5 | 0.25 0.75 5 -0.2 | 0 7] -> see TensorTests.testMXFP4HandVector for the
        // element derivation. Blocks: amax 6.5 -> E 0 (127); amax 5 -> E 0 (127); amax 7 -> E 0 (127).
        // Codes 2 4 5 7 | 0 2 6 8 | 0 7 -> bytes 42 75 | 20 86 | 70 00 (padding).
        let v = try MXEncodeReport.parseValues("1 2 0x40400000\n6.5\t0.25 0.75 5 -0.2 0 7\n")
        XCTAssertEqual(v.count, 10)
        XCTAssertEqual(v[2], 3)
        let json = MXEncodeReport.json(v, config: MXConfig(format: .mxfp4_e2m1, block: 4))
        XCTAssertEqual(json, #"{"format": "mxfp4_e2m1", "block": 4, "scales": [127, 127, 127], "codes": [2, 4, 5, 7, 0, 2, 6, 8, 0, 7], "packed": "427520867000", "decoded": ["0x3f800000", "0x40000000", "0x40400000", "0x40c00000", "0x00000000", "0x3f800000", "0x40800000", "0x80000000", "0x00000000", "0x40c00000"]}"#)
        // NaN block: scale 255, codes 0, decoded canonical quiet NaN.
        let j2 = MXEncodeReport.json(try MXEncodeReport.parseValues("nan 1"), config: MXConfig(format: .mxint8, block: 2))
        XCTAssertEqual(j2, #"{"format": "mxint8", "block": 2, "scales": [255], "codes": [0, 0], "packed": "0000", "decoded": ["0x7fc00000", "0x7fc00000"]}"#)
    }

    func testInputErrors() {
        for bad in ["", "  \n", "1 abc", "0x123", "0x1234567g", "0x123456789", "1.5.2", "-0x3f800000", "1e", "1,5", "--1", "0x+1234567"] {
            XCTAssertThrowsError(try MXEncodeReport.parseValues(bad), "'\(bad)'")
        }
        XCTAssertEqual(try MXEncodeReport.parseValues("-0 +2 .5 5. 1e-3 INF -inf 0X3F800000").map(\.bitPattern),
                       [0x8000_0000, 0x4000_0000, 0x3F00_0000, 0x40A0_0000, Float(0.001).bitPattern, 0x7F80_0000, 0xFF80_0000, 0x3F80_0000])
    }
}
