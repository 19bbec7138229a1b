import XCTest
@testable import MXFormats

// Placeholder: replaced by the module's real tests.
final class PlaceholderMXFormatsTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
