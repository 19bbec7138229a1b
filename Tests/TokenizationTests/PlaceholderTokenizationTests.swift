import XCTest
@testable import Tokenization

// Placeholder: replaced by the module's real tests.
final class PlaceholderTokenizationTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
