import Foundation
import Support

/// The real runner needs the Runtime and PTQ modules; wired when they land.
public func makeRealRunner(_ m: Manifest) throws -> CellRunner {
    throw UsageError("sweep: the real runner is not wired yet (needs Runtime and PTQ); use --dry-run or --fake-runner")
}
