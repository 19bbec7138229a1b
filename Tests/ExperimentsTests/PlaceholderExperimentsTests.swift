import XCTest
@testable import Experiments

// Placeholder: replaced by the module's real tests.
final class PlaceholderExperimentsTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
