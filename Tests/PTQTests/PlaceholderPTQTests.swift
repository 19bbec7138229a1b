import XCTest
@testable import PTQ

// Placeholder: replaced by the module's real tests.
final class PlaceholderPTQTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
