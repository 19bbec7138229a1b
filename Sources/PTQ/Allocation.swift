import Foundation
import Support

/// Per-layer format allocation under an average-bits budget (a multiple-choice knapsack).
///
/// Each layer `i` has `params[i]` weight elements and a list of options (storage bits per element
/// incl. the shared scale, predicted cost such as ΔNLL). The plan picks one option per layer,
/// minimizing the summed cost subject to Σ params·bits ≤ budget · Σ params.
///
/// Exact: bits are first made integers (times `bitsScale`, e.g. the block size: element bits +
/// 8/block are multiples of 1/block) and params divided by their greatest common divisor, so the
/// constraint is an integer one; dynamic programming over the used budget then finds the optimum.
/// When that state space is larger than `maxStates`, element counts are rounded up to a coarser unit
/// (every such plan still meets the budget) and `exact` is false.
public enum Allocation {
    public struct Option: Sendable, Equatable {
        public var bits: Double
        public var cost: Double
        public init(bits: Double, cost: Double) { self.bits = bits; self.cost = cost }
    }
    public struct Plan: Sendable, Equatable {
        /// Chosen option index per layer.
        public var choice: [Int]
        public var totalCost: Double
        /// Parameter-weighted average bits of the plan.
        public var averageBits: Double
        /// False when the integer grid had to be coarsened (the plan is feasible, maybe not optimal).
        public var exact: Bool
    }

    /// The cheapest plan, or nil when even the smallest options exceed the budget.
    public static func solve(params: [Int], options: [[Option]], budget: Double, bitsScale: Double = 32,
                             maxStates: Int = 1_000_000) -> Plan? {
        precondition(params.count == options.count && options.allSatisfy { !$0.isEmpty } && params.allSatisfy { $0 > 0 })
        let n = params.count
        let totalParams = params.reduce(0, +)
        // integer bits (bits · bitsScale, rounded up: never under-counts storage)
        let ib = options.map { $0.map { Int(($0.bits * bitsScale - 1e-9).rounded(.up)) } }
        var unit = params.reduce(0) { gcd($0, $1) }
        var exact = true
        func capacity(_ u: Int) -> Int { Int((budget * bitsScale * Double(totalParams) / Double(u) + 1e-9).rounded(.down)) }
        while capacity(unit) > maxStates { unit *= 2; exact = false }
        let cap = capacity(unit)
        guard cap >= 0 else { return nil }
        let w = (0..<n).map { i in ib[i].map { b in ((params[i] * b) + unit - 1) / unit } }   // rounded up
        // dp[c] = min cost with used capacity exactly c after the layers so far; choice table for backtracking
        let inf = Double.infinity
        var dp = [Double](repeating: inf, count: cap + 1)
        dp[0] = 0
        var pick = [[Int8]](repeating: [], count: n)
        for i in 0..<n {
            var next = [Double](repeating: inf, count: cap + 1)
            var p = [Int8](repeating: -1, count: cap + 1)
            for c in 0...cap where dp[c] < inf {
                for (k, o) in options[i].enumerated() {
                    let c2 = c + w[i][k]
                    if c2 > cap { continue }
                    let v = dp[c] + o.cost
                    if v < next[c2] || (v == next[c2] && p[c2] > Int8(k)) { next[c2] = v; p[c2] = Int8(k) }
                }
            }
            dp = next
            pick[i] = p
        }
        guard let best = dp.indices.filter({ dp[$0] < inf }).min(by: { (dp[$0], $0) < (dp[$1], $1) }) else { return nil }
        var choice = [Int](repeating: 0, count: n)
        var c = best
        for i in stride(from: n - 1, through: 0, by: -1) {
            let k = Int(pick[i][c])
            choice[i] = k
            c -= w[i][k]
        }
        let bits = (0..<n).reduce(0.0) { $0 + Double(params[$1]) * options[$1][choice[$1]].bits } / Double(totalParams)
        return Plan(choice: choice, totalCost: dp[best], averageBits: bits, exact: exact)
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
