import Foundation
import Support

/// Deterministic random fp32 arrays for tests.
public func randomFloats(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var g = SplitMix64(seed: seed)
    return (0..<n).map { _ in g.nextGaussian() * scale }
}

/// Max |a-b| / max(|b|, floor) over two arrays of equal length.
public func maxRelativeError(_ a: [Float], _ b: [Float], floor: Float = 1e-6) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a[i] - b[i]) / max(abs(b[i]), floor)) }
    return m
}

/// A fresh temporary directory, removed by the caller (or left for the OS).
public func makeTempDir(_ prefix: String = "mxq-test") -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}
