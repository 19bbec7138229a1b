import XCTest
import Foundation
@testable import Support

final class SpinTeamTests: XCTestCase {
    /// Every part runs exactly once, for part counts below, at and above the worker count,
    /// back to back (helpers spinning) and after pauses longer than the spin (helpers asleep).
    func testEveryPartRunsOnceAwakeAndAsleep() {
        let team = SpinTeam(threads: 3)
        for round in 0..<400 {
            let parts = [1, 2, 3, 5, 17][round % 5]
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: parts)
            counts.initialize(repeating: 0, count: parts)
            let p = UncheckedSendable(counts)
            team.run(parts) { i in p.value[i] += 1 }
            XCTAssertTrue((0..<parts).allSatisfy { counts[$0] == 1 }, "round \(round): \((0..<parts).map { counts[$0] })")
            counts.deallocate()
            if round % 50 == 49 { usleep(UInt32(SpinTeam.spinSeconds * 3e6)) }
        }
    }

    /// A run inside a job and runs from several threads at once fall back to Dispatch and
    /// still run every part once.
    func testNestedAndConcurrentCallers() {
        let team = SpinTeam(threads: 2)
        let total = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        total.initialize(repeating: 0, count: 64)
        let p = UncheckedSendable(total)
        team.run(4) { i in
            team.run(16) { j in p.value[i * 16 + j] += 1 }
        }
        XCTAssertTrue((0..<64).allSatisfy { total[$0] == 1 })
        let lock = NSLock()
        var sum = 0
        DispatchQueue.concurrentPerform(iterations: 8) { c in
            for _ in 0..<50 {
                var local = [Int](repeating: 0, count: 6)
                local.withUnsafeMutableBufferPointer { b in
                    let q = UncheckedSendable(b.baseAddress!)
                    team.run(6) { i in q.value[i] = i + c }
                }
                lock.lock(); sum += local.reduce(0, +); lock.unlock()
            }
        }
        XCTAssertEqual(sum, (0..<8).reduce(0) { $0 + 50 * (15 + 6 * $1) })
        total.deallocate()
    }
}
