import XCTest
@testable import Runtime

// Placeholder: replaced by the module's real tests.
final class PlaceholderRuntimeTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
