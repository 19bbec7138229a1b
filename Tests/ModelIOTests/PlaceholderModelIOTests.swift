import XCTest
@testable import ModelIO

// Placeholder: replaced by the module's real tests.
final class PlaceholderModelIOTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
