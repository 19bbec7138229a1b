import XCTest
import Support
import MXFormats
import Runtime
@testable import PTQ

final class AllocationTests: XCTestCase {
    /// The DP plan equals the brute-force optimum on small random instances (cost and feasibility);
    /// budget accounting counts the scale bits (element bits + 8/block) and fp32 layers (32 bits).
    func testExactAgainstBruteForce() {
        var g = SplitMix64(seed: 42)
        let bitsMenu: [Double] = [4 + 8.0 / 32, 6 + 8.0 / 32, 8 + 8.0 / 32, 32]
        for trial in 0..<200 {
            let n = 1 + Int(g.next() % 5)
            let params = (0..<n).map { _ in [64, 128, 192, 384][Int(g.next() % 4)] }
            let options: [[Allocation.Option]] = (0..<n).map { _ in
                let k = 1 + Int(g.next() % 4)
                return (0..<k).map { j in Allocation.Option(bits: bitsMenu[j], cost: Double(g.next() % 1000) / 100) }
            }
            let budget = 4 + Double(g.next() % 2900) / 100
            // brute force
            var best: Double? = nil
            var idx = [Int](repeating: 0, count: n)
            let total = params.reduce(0, +)
            outer: while true {
                let bits = (0..<n).reduce(0.0) { $0 + Double(params[$1]) * options[$1][idx[$1]].bits }
                if bits <= budget * Double(total) + 1e-9 {
                    let c = (0..<n).reduce(0.0) { $0 + options[$1][idx[$1]].cost }
                    if best == nil || c < best! { best = c }
                }
                var i = 0
                while i < n { idx[i] += 1; if idx[i] < options[i].count { continue outer }; idx[i] = 0; i += 1 }
                break
            }
            let plan = Allocation.solve(params: params, options: options, budget: budget)
            XCTAssertEqual(plan == nil, best == nil, "trial \(trial)")
            if let p = plan, let b = best {
                XCTAssertEqual(p.totalCost, b, accuracy: 1e-9, "trial \(trial)")
                XCTAssertTrue(p.exact)
                XCTAssertLessThanOrEqual(p.averageBits, budget + 1e-9)
                let recomputed = (0..<n).reduce(0.0) { $0 + options[$1][p.choice[$1]].cost }
                XCTAssertEqual(recomputed, p.totalCost, accuracy: 1e-9)
            }
        }
        // hand case: two equal layers, MXINT4 (4.25 bits) or MXINT8 (8.25 bits); budget 6.25 = one of each
        let two = Allocation.solve(params: [100, 100], options: Array(repeating: [Allocation.Option(bits: 4.25, cost: 3),
                                                                                 Allocation.Option(bits: 8.25, cost: 1)], count: 2),
                                   budget: 6.25)
        XCTAssertEqual(two?.totalCost, 4)
        XCTAssertEqual(two?.averageBits, 6.25)
        XCTAssertNil(Allocation.solve(params: [100], options: [[Allocation.Option(bits: 4.25, cost: 0)]], budget: 4.0))
        // deterministic ties: the lower option index wins
        let tie = Allocation.solve(params: [10], options: [[Allocation.Option(bits: 4.25, cost: 1), Allocation.Option(bits: 4.25, cost: 1)]], budget: 8)
        XCTAssertEqual(tie?.choice, [0])
    }

    func testSpearman() {
        XCTAssertEqual(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1, accuracy: 1e-12)
        XCTAssertEqual(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1, accuracy: 1e-12)
        // ties get average ranks: x ranks 1,2,3.5,3.5 vs y 1,2,3,4 → r = 0.9487 (hand: Pearson of the ranks)
        XCTAssertEqual(spearman([1, 2, 3, 3], [1, 2, 3, 4]), 0.9486832980505138, accuracy: 1e-12)
    }

    /// Sensitivity on the tiny model: a more precise format never hurts more than a coarser one in
    /// this setting (MXINT8 vs MXINT4, RTN), every block linear is measured per format.
    func testSensitivityShapes() throws {
        var o = SensitivityOptions(formats: [MXConfig(format: .mxint4), MXConfig(format: .mxint8)], act: nil, recipe: .rtn, ptq: PTQOptions())
        o.showProgress = false
        o.ptq.showProgress = false
        let s = try measureSensitivity(makeModel: { Tiny.model() }, calibration: Tiny.calibration(samples: 2, length: 24),
                                       probe: Tiny.calibration(samples: 2, length: 24, seed: 5), options: o)
        XCTAssertEqual(s.count, 2 * 7 * 2)
        for l in Set(s.map(\.layer)) {
            let i4 = s.first { $0.layer == l && $0.format == "mxint4" }!, i8 = s.first { $0.layer == l && $0.format == "mxint8" }!
            XCTAssertLessThan(i8.weightRelMSE, i4.weightRelMSE)
            XCTAssertEqual(i4.bits, 4.25); XCTAssertEqual(i8.bits, 8.25)
            XCTAssertTrue(i4.measuredDeltaNLL.isFinite && i4.proxyKL.isFinite)
            // KL is second order in the perturbation: never below rounding, and smaller for the finer format
            XCTAssertGreaterThan(i4.measuredKL, 0)
            XCTAssertGreaterThan(i8.measuredKL, -1e-9)
            XCTAssertLessThan(i8.measuredKL, i4.measuredKL)
            XCTAssertGreaterThan(i4.proxyKL, i8.proxyKL)
        }
        // the same table from one worker and from two
        o.workers = 1
        let one = try measureSensitivity(makeModel: { Tiny.model() }, calibration: Tiny.calibration(samples: 2, length: 24),
                                         probe: Tiny.calibration(samples: 2, length: 24, seed: 5), options: o)
        o.workers = 2
        let two = try measureSensitivity(makeModel: { Tiny.model() }, calibration: Tiny.calibration(samples: 2, length: 24),
                                         probe: Tiny.calibration(samples: 2, length: 24, seed: 5), options: o)
        XCTAssertEqual(one, two)
        XCTAssertEqual(one, s)
    }
}
