import Foundation
import XCTest
@testable import Experiments

/// `jsonSafe`: the eval --json object of a cell whose PPL overflowed must still be written.
final class JSONSafeTests: XCTestCase {
    func testNonFiniteNumbersBecomeStrings() throws {
        let obj: [String: Any] = [
            "ppl": Double.infinity, "nll": 712.5, "loss": -Double.infinity, "x": Double.nan,
            "window_nll": [1.5, Double.infinity], "nested": ["a": Double.nan, "b": [Double.infinity] as [Any]] as [String: Any],
            "tokens": 8188, "name": "cell",
        ]
        XCTAssertThrowsError(try JSONSerialization.data(withJSONObject: ["ppl": Double.infinity]))
        let d = try JSONSerialization.data(withJSONObject: jsonSafe(obj), options: [.sortedKeys])
        XCTAssertEqual(String(decoding: d, as: UTF8.self),
                       #"{"loss":"-inf","name":"cell","nested":{"a":"nan","b":["inf"]},"nll":712.5,"ppl":"inf","tokens":8188,"window_nll":[1.5,"inf"],"x":"nan"}"#)
    }
}
