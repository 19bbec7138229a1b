import Foundation
import Support
import PTQ

/// Runs cells of a sweep. The real runner loads the model once, computes the fp32
/// baseline and shared calibration once, then quantizes and evaluates per cell;
/// `FakeRunner` is a deterministic stand-in for tests of the sweep machinery.
public protocol CellRunner: AnyObject {
    /// Hashes of the model, calibration text and evaluation data (computed once).
    func provenance() throws -> Provenance
    /// fp32 perplexity on every manifest dataset, in manifest order (called at most once per process).
    func baseline(progress: SweepProgress) throws -> [DatasetResult]
    /// Quantizes per `cell` and evaluates every manifest dataset. `cell.recipe.isFP32`
    /// cells return the baseline. Results must not depend on the thread count.
    func runCell(_ cell: Cell, progress: SweepProgress) throws -> CellResult
    /// SHA-256 of the calibration text `cell` uses, when it differs from `provenance()`'s (nil: the same).
    func calibrationSHA256(for cell: Cell) throws -> String?
}

extension CellRunner {
    public func calibrationSHA256(for cell: Cell) throws -> String? { nil }
}

/// `--shard i/n`: this process runs the cells whose index ≡ i (mod n), 0 ≤ i < n.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    public let index: Int, count: Int
    public init(index: Int, count: Int) { self.index = index; self.count = count }
    public init(parsing s: String) throws {
        let parts = s.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
            throw UsageError("--shard expects i/n with 0 <= i < n (e.g. 0/4), got '\(s)'")
        }
        index = i; count = n
    }
    public func contains(_ cellIndex: Int) -> Bool { cellIndex % count == index }
    public var description: String { "\(index)/\(count)" }
}

/// A rough time model for `--dry-run` and the sweep ETA (seconds on this 2-core machine
/// with SmolLM2-135M; the ETA rescales it by the measured speed once a cell finished).
///
/// Constants measured on 2 idle cores (AMD EPYC, AVX-512 VNNI build), 2026-12-04: the
/// `w4a8-mxint` sweep's per-stage seconds (`stageSeconds` of its cell records: 32 × 512 calibration
/// tokens), and RTN and GPTQ at 128 × 2048 tokens (`mxq eval --recipe rtn|gptq --calib-samples 128
/// --calib-len 2048 --layers F`: passes 546.6 s and 244.7 s). Per calibration token, a pass through
/// all blocks costs `base + perPosition·L` at calibration length L (the causal attention grows
/// with L; the linears do not); the two lengths fix base and perPosition of the observing and final
/// passes (RTN's two passes: 1.562e-3 s per token at L = 512, 2.085e-3 at 2048), and GPTQ's staged
/// pass, whose cost grows faster with L (0.933e-3 s per token at 2048), has its own perPosition.
/// Checked at 128 × 2048 (calibration, measured vs model): RTN 565 vs 556 s, GPTQ 454 vs 462 s,
/// SQ+AWQ+GPTQ 824 vs 823 s (that run before the staged pass lost ~20 s of stash zero-filling).
/// The Hessians of MXINT8 activations on the bf16 path (2026-12-05): GPTQ 454 → 360 s at 128 × 2048,
/// all of it in the Hessians (0.73e-3 − 94 s / 262,144 tokens ≈ 0.37e-3 s per token).
public struct CostModel: Sendable {
    /// fp32 forward tokens per second at ctx 2048 (measured 537: 32,768 tokens in 61 s).
    public var evalTokensPerSecond: Double = 540
    /// Evaluation seconds of a quantized cell relative to fp32: on the integer MX kernels
    /// (MXINT8 activations × MXINT4/MXINT8 weights, block 32, `eval.path` auto; measured 37–40 s
    /// against the baseline's 61 s) and through fp32 fake-quant weights with activation
    /// quantization (`mxq bench eval`: 0.82–0.93× the fp32 tokens/s).
    public var packedIntEvalFactor = 0.64, fakeQuantEvalFactor = 1.15
    /// Seconds per calibration token and block pass at L = 0 (see above): the fp32 observing pass
    /// (statistics before a stage that is not GPTQ; down_proj's product skipped), and the pass
    /// through the quantized block that yields its outputs (GPTQ's staged pass, or the final pass)
    /// on the integer kernels or through fp32 fake-quant weights.
    public var observePassBase = 0.88e-3, quantizedPassBaseInt = 0.51e-3, quantizedPassBaseFake = 1.53e-3
    /// RTN's observing pass, which computes only the keys and values of every position and the
    /// rest for the records' sampled rows (`LlamaModel.observeBlockRows`): seconds per calibration
    /// token plus fixed seconds per cell (fitted to 4.75 s at 32 × 512 and 30 s at 128 × 2048).
    public var observeSampledPass = 0.10e-3, observeSampledSeconds = 3.0
    /// Extra seconds per calibration token and position of context, per pass (the attention):
    /// the observing and final passes, and GPTQ's staged pass.
    public var passPerPosition = 1.7e-7, stagedPassPerPosition = 2.07e-7
    /// GPTQ's Hessians, seconds per calibration token (measured 0.76e-3 at 32 × 512, 0.71e-3 at 128 × 2048),
    /// and with MXINT8 activations (block 32, floor, ties to even) on builds whose Hessians take the
    /// bf16 path (`hessiansFused`; quantization fused into its packing): `hessianSecondsPerTokenBF16`.
    public var hessianSecondsPerToken = 0.73e-3
    public var hessianSecondsPerTokenBF16 = 0.37e-3
    /// Whether this build's Hessians of MXINT8 activations run on the bf16 path (AVX-512 BF16).
    public var hessianBF16 = HessianAccumulator.fusedMXINT8Available
    /// Fixed seconds (independent of the calibration tokens): the error records of one stage
    /// (`recordTokens` positions per linear), each further stage before a final GPTQ, the held-out
    /// records, AWQ's searches (on the integer kernels / fp32), GPTQ's solves, SmoothQuant.
    public var recordsSeconds = 8.0, extraStageRecordsSeconds = 2.8, heldoutSeconds = 1.2
    public var awqSecondsInt = 34.0, awqSecondsFake = 67.0, gptqSolveSeconds = 16.0, smoothQuantSeconds = 0.2
    /// Tokens of a full dataset evaluation (SmolLM2 tokenizer), used when windows = all.
    public var fullDatasetTokens: [String: Int] = ["wikitext2": 290_000, "ptb": 115_000]
    public init() {}

    public func evalTokens(_ m: Manifest, _ dataset: String) -> Int {
        if let w = m.windows { return min(w * m.ctx, fullDatasetTokens[dataset] ?? w * m.ctx) }
        return fullDatasetTokens[dataset] ?? 100_000
    }

    public func baselineSeconds(_ m: Manifest) -> Double {
        m.datasets.reduce(0) { $0 + Double(evalTokens(m, $1)) / evalTokensPerSecond }
    }

    /// Whether a cell's quantized linears run on the integer MX kernels (evaluation and calibration):
    /// its default formats pair there (`integerKernelsApply`; overrides ignored) and `eval.path` is auto.
    func runsInteger(_ c: Cell, _ m: Manifest) -> Bool {
        guard m.evalPath != "fake-quant", let p = try? RealRunner.plan(c) else { return false }
        return integerKernelsApply(p.plan.defaults)
    }

    /// Whether a cell's GPTQ Hessians take the bf16 path with the activation quantization fused
    /// (`hessianBF16`, and its default activation format one `HessianAccumulator.fusesQuantization`).
    func hessiansFused(_ c: Cell) -> Bool {
        guard hessianBF16, let a = (try? RealRunner.plan(c))?.plan.defaults.act else { return false }
        return HessianAccumulator.fusesQuantization(a)
    }

    public func cellSeconds(_ c: Cell, _ m: Manifest) -> Double {
        if c.recipe.isFP32 { return 1 }  // reuses the baseline
        let int = runsInteger(c, m)
        let evalSeconds = baselineSeconds(m) * (int ? packedIntEvalFactor : (c.acts == nil ? 1 : fakeQuantEvalFactor))
        var s = evalSeconds
        let cal = m.calibration(of: c)
        let tokens = Double(cal.n * cal.len), attention = passPerPosition * Double(cal.len)
        let names = c.recipe.stages.map(\.name)
        let gptqFirst = names.first == "gptq"
        // the observing pass (not when GPTQ comes first: its staged pass collects the statistics)
        if !gptqFirst {
            // RTN's pass computes only the sampled rows when the sample is not every position
            let perSequence = PTQOptions().recordPositionsPerSequence(sequences: cal.n, length: cal.len)
            s += names.allSatisfy { $0 == "rtn" } && perSequence < cal.len ? tokens * observeSampledPass + observeSampledSeconds
                                                                            : tokens * (observePassBase + attention)
        }
        // the pass through the quantized block (GPTQ's staged pass, or the final pass)
        let staged = names.contains("gptq")
        s += tokens * ((int ? quantizedPassBaseInt : quantizedPassBaseFake)
                       + (staged ? stagedPassPerPosition * Double(cal.len) : attention))
        s += recordsSeconds + heldoutSeconds
        if names.last == "gptq" { s += extraStageRecordsSeconds * Double(names.count - 1) }
        for n in names {
            switch n {
            case "gptq": s += tokens * (hessiansFused(c) ? hessianSecondsPerTokenBF16 : hessianSecondsPerToken) + gptqSolveSeconds
            case "awq": s += int ? awqSecondsInt : awqSecondsFake
            case "smoothquant": s += smoothQuantSeconds
            default: break
            }
        }
        if c.budget != nil, m.cells.first(where: { sameSensitivity($0, c) }) == c {
            // the sensitivity table (computed by the first plan cell, cached for the others): the recipe
            // once per format, then per layer (formats + 1) partial passes over the probe tokens
            // (half the blocks on average, plus the LM head) — from ~210 layers for SmolLM2
            let recipePass = s - evalSeconds
            let probe = Double(min(m.planProbeTokens + cal.len - 1, cal.n * cal.len)) / evalTokensPerSecond
            s += Double(c.planFormats.count) * recipePass + 210 * Double(c.planFormats.count + 1) * 0.6 * probe
        }
        return s
    }

    /// Plan cells that share one sensitivity table.
    func sameSensitivity(_ a: Cell, _ b: Cell) -> Bool {
        a.budget != nil && b.budget != nil && a.acts == b.acts && a.block == b.block && a.scaleRule == b.scaleRule
            && a.rounding == b.rounding && a.recipe == b.recipe && a.seed == b.seed && a.calibration == b.calibration
            && a.planFormats == b.planFormats && a.roundingSeed == b.roundingSeed
    }
}

/// Progress of a sweep on stderr: the current cell, its stage, elapsed and an ETA for the sweep.
public final class SweepProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let quiet = ProcessInfo.processInfo.environment["MXQ_QUIET"] == "1"
    private let isTTY = isatty(2) != 0
    private let start = monotonicSeconds()
    private var lastPrint = -1e9
    private var label = ""
    private var stageText = ""
    private var remainingEstimate = 0.0      // estimated seconds of cells not yet started
    private var currentEstimate = 0.0
    private var currentStart = 0.0
    private var doneEstimate = 0.0           // estimates of cells finished in this process
    private var doneActual = 0.0
    /// Share of the fp32 baseline done (from the runner's evaluation progress), while it runs.
    private var baselineFraction: Double? = nil
    /// Measured/estimated time of the fp32 baseline: the speed prior before any cell finished.
    private var priorSpeed = 1.0
    private let cost: (Cell) -> Double

    init(cost: @escaping (Cell) -> Double) { self.cost = cost }

    /// Sets the work ahead: `cells` and, when the baseline is still to run, its estimate.
    func begin(cells: [Cell], baseline: Double = 0) {
        lock.lock()
        remainingEstimate = cells.reduce(0) { $0 + cost($1) }
        if baseline > 0 {
            label = "fp32 baseline"
            baselineFraction = 0
            currentEstimate = baseline
            currentStart = monotonicSeconds()
        }
        lock.unlock()
    }

    func startCell(_ cell: Cell, position: Int, of total: Int) {
        lock.lock()
        let e = cost(cell)
        remainingEstimate -= e
        currentEstimate = e
        currentStart = monotonicSeconds()
        label = "[\(position)/\(total)] \(cell.id)"
        stageText = "start"
        emit(force: true)
        lock.unlock()
    }

    /// Records how long the baseline took against its estimate (rescales the ETA at once).
    func calibrate(actual: Double, estimate: Double) {
        lock.lock()
        if actual > 0 && estimate > 0 { priorSpeed = actual / estimate; doneActual += actual; doneEstimate += estimate }
        currentEstimate = 0
        baselineFraction = nil
        lock.unlock()
    }

    func finishCell(countsForSpeed: Bool = true) {
        lock.lock()
        if countsForSpeed {   // the fp32 cell reuses the baseline: its ~0 s says nothing about speed
            doneEstimate += currentEstimate
            doneActual += monotonicSeconds() - currentStart
        }
        currentEstimate = 0
        lock.unlock()
    }

    /// Called by runners to name what they are doing ("gptq layers.3.mlp.down_proj", "eval wikitext2 5/16").
    public func stage(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        let changedKind = text.split(separator: " ").first != stageText.split(separator: " ").first
        stageText = text
        emit(force: changedKind)
    }

    /// Runners report the share (0...1) of an evaluation done; used for the ETA while the
    /// fp32 baseline runs (its speed then rescales the estimates of all cells).
    public func evaluationFraction(_ f: Double) {
        lock.lock(); defer { lock.unlock() }
        if baselineFraction != nil { baselineFraction = min(max(f, 0), 1) }
    }

    /// A one-off message on its own line.
    public func note(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        if quiet { return }
        FileHandle.standardError.write(((isTTY ? "\r\u{1B}[K" : "") + "sweep: " + text + "\n").data(using: .utf8)!)
    }

    /// Seconds left in the sweep: estimates rescaled by the measured speed of finished cells.
    public var etaSeconds: Double {
        var speed = doneEstimate > 0 ? doneActual / doneEstimate : priorSpeed
        if let f = baselineFraction, f > 0.02, currentEstimate > 0 {
            speed = (monotonicSeconds() - currentStart) / f / currentEstimate
        }
        let cur = max(0, currentEstimate * speed - (currentEstimate > 0 ? monotonicSeconds() - currentStart : 0))
        return remainingEstimate * speed + cur
    }

    private func emit(force: Bool) {
        if quiet { return }
        let now = monotonicSeconds()
        if !force && now - lastPrint < (isTTY ? 0.25 : 10) { return }
        lastPrint = now
        let s = "sweep \(label) — \(stageText) — \(formatDuration(now - start)), ETA \(formatDuration(etaSeconds))"
        FileHandle.standardError.write(((isTTY ? "\r\u{1B}[K" : "") + s + (isTTY ? "" : "\n")).data(using: .utf8)!)
    }

    func endLine() { if isTTY && !quiet { FileHandle.standardError.write("\n".data(using: .utf8)!) } }
}

/// Machine, compiler, threads and git state recorded in `env.json`.
public enum Environment {
    public static func collect(threads: Int, arguments: [String]) -> [String: Any] {
        var u = utsname()
        uname(&u)
        func str<T>(_ t: T) -> String {
            withUnsafeBytes(of: t) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        var cpu = "unknown"
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var env: [String: Any] = [
            "started_utc": utcTimestamp(iso: true),
            "machine": ["sysname": str(u.sysname), "hostname": str(u.nodename), "release": str(u.release), "arch": str(u.machine)],
            "cpu_model": cpu,
            "cpu_cores_online": ProcessInfo.processInfo.activeProcessorCount,
            "threads": threads,
            "swift_compiler": compilerVersion,
            "command": arguments.joined(separator: " "),
            "git_commit": gitCommit(),
            "git_dirty": gitDirty().map { $0 as Any } ?? NSNull(),
        ]
        if let v = run("swift", ["--version"]) { env["swift_version_output"] = v }
        return env
    }

    /// Compiler version this binary was built with (from `#if compiler`).
    public static var compilerVersion: String {
        #if compiler(>=6.4)
        return ">=6.4"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #elseif compiler(>=6.0)
        return "6.0"
        #else
        return "<6.0"
        #endif
    }

    /// `git rev-parse HEAD` in the checkout, or "unknown".
    public static func gitCommit() -> String {
        run("git", ["-C", Paths.root.path, "rev-parse", "HEAD"])?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
    }

    static func gitDirty() -> Bool? {
        guard let s = run("git", ["-C", Paths.root.path, "status", "--porcelain", "--untracked-files=no"]) else { return nil }
        return !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// Runs a program found on PATH; stdout on success, nil otherwise.
    static func run(_ tool: String, _ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let d = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(data: d, encoding: .utf8)
    }

    /// `20261123T120403Z` (or ISO-8601 `2026-11-23T12:04:03Z`).
    public static func utcTimestamp(iso: Bool = false) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = iso ? "yyyy-MM-dd'T'HH:mm:ss'Z'" : "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: Date())
    }
}

/// A sweep over a manifest's cells writing a results folder:
/// `manifest.resolved.json`, `env.json`, `baseline.json`, `cells/NNNN.json` (one per
/// finished cell, written atomically), `summary.csv` and `layers.csv` (rewritten
/// atomically from the cell records after every cell).
public final class Sweep {
    public let manifest: Manifest
    public let dir: URL
    public let shard: Shard?
    public var cost = CostModel()
    /// The results folder's lock (`DIR/.lock`, `flock` exclusive), held while this object lives:
    /// a second `mxq sweep` on the same folder is refused instead of writing beside this one.
    private let lock: FolderLock

    /// Prepares `dir` for a new sweep (`resume == false`; the folder must not hold one)
    /// or checks that it holds this manifest's sweep (`resume == true`).
    public init(manifest: Manifest, dir: URL, shard: Shard?, resume: Bool, environment: [String: Any]) throws {
        self.manifest = manifest; self.dir = dir; self.shard = shard
        let fm = FileManager.default
        if resume && !fm.fileExists(atPath: dir.path) {
            throw UsageError("--resume \(dir.path): no such folder")
        }
        lock = try FolderLock(dir)
        let mURL = dir.appendingPathComponent("manifest.resolved.json")
        let envURL = dir.appendingPathComponent("env.json")
        let resolved = manifest.resolvedJSON()
        var runs: [[String: Any]] = []
        if resume {
            guard let old = fm.contents(atPath: mURL.path) else {
                throw UsageError("--resume \(dir.path): no manifest.resolved.json there (not a sweep results folder)")
            }
            guard old == resolved else {
                throw UsageError("--resume \(dir.path): that sweep ran a different manifest (sha256 \(SHA256.hex(of: old)) vs \(manifest.sha256) now); resume with the same manifest")
            }
            if let d = fm.contents(atPath: envURL.path), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] {
                let oldShard = o["shard"] as? String
                if oldShard != shard?.description {
                    throw UsageError("--resume \(dir.path): that sweep ran with --shard \(oldShard ?? "(none)"), now \(shard?.description ?? "(none)"); use the same --shard")
                }
                runs = o["runs"] as? [[String: Any]] ?? []
            }
        } else {
            if fm.fileExists(atPath: mURL.path) {
                throw UsageError("\(dir.path) already holds a sweep; use --resume \(dir.path) to continue it, or another --out")
            }
            try fm.createDirectory(at: dir.appendingPathComponent("cells"), withIntermediateDirectories: true)
            try writeDurably(resolved, to: mURL, exclusive: true)
        }
        removeStaleTemporaries(in: dir)
        removeStaleTemporaries(in: dir.appendingPathComponent("cells"))
        try fm.createDirectory(at: dir.appendingPathComponent("cells"), withIntermediateDirectories: true)
        runs.append(environment)
        var env: [String: Any] = ["runs": runs, "manifest_sha256": manifest.sha256]
        if let s = shard { env["shard"] = s.description }
        try writeDurably(try JSONSerialization.data(withJSONObject: env, options: [.prettyPrinted, .sortedKeys]), to: envURL)
    }

    /// Indices of the cells this process is responsible for (its shard), in order.
    public var myCells: [Int] { manifest.cells.indices.filter { shard?.contains($0) ?? true } }

    /// Runs every cell of this shard that has no record yet. Returns the number of cells run.
    @discardableResult
    public func run(runner: CellRunner, gitCommit: String) throws -> Int {
        let existing = try loadCellRecords(dir)
        var done = Set<Int>()
        for r in existing {
            guard r.index < manifest.cells.count, manifest.cells[r.index].id == r.id else {
                throw UsageError("\(dir.path)/cells/\(cellRecordName(r.index)) is cell '\(r.id)', which is not cell \(r.index) of this manifest")
            }
            guard r.manifestSHA256 == manifest.sha256 else {
                throw UsageError("\(dir.path)/cells/\(cellRecordName(r.index)) was made by another manifest (sha256 \(r.manifestSHA256), now \(manifest.sha256))")
            }
            done.insert(r.index)
        }
        let todo = myCells.filter { !done.contains($0) }
        let progress = SweepProgress(cost: { [manifest, cost] in cost.cellSeconds($0, manifest) })
        if !done.isEmpty { progress.note("\(done.count) cell(s) already finished in \(dir.path), \(todo.count) to run") }
        let prov = try runner.provenance()
        // every finished record must come from the same inputs as the cells about to run
        for r in existing {
            if let why = provenanceMismatch(r.provenance, prov, calibration: try runner.calibrationSHA256(for: manifest.cells[r.index])) {
                throw UsageError("\(dir.path)/cells/\(cellRecordName(r.index)) (\(r.id)) was made from other inputs: \(why); start a new sweep")
            }
            if r.gitCommit != gitCommit {
                progress.note("note: cell \(r.index) was made at commit \(r.gitCommit), this run is at \(gitCommit)")
            }
        }
        try writeTables(dir, records: existing)
        if todo.isEmpty { return 0 }
        let baseURL = dir.appendingPathComponent("baseline.json")
        var baseline: [DatasetResult]
        if let d = FileManager.default.contents(atPath: baseURL.path) {
            let b = try JSONIO.decoder().decode(BaselineFile.self, from: d)
            guard b.provenance == prov else {
                throw UsageError("\(dir.path): the model or data changed since this sweep started (baseline.json has other sha256 hashes); start a new sweep")
            }
            baseline = b.evals
        } else {
            progress.note("fp32 baseline on \(manifest.datasets.joined(separator: ", "))")
            progress.begin(cells: todo.map { manifest.cells[$0] }, baseline: cost.baselineSeconds(manifest))
            let tb = monotonicSeconds()
            baseline = try runner.baseline(progress: progress)
            progress.calibrate(actual: monotonicSeconds() - tb, estimate: cost.baselineSeconds(manifest))
            try writeDurably(try JSONIO.encoder().encode(BaselineFile(provenance: prov, evals: baseline)), to: baseURL)
        }
        let fp32 = Dictionary(uniqueKeysWithValues: baseline.map { ($0.dataset, $0.ppl) })

        progress.begin(cells: todo.map { manifest.cells[$0] })
        var records = existing
        for (k, i) in todo.enumerated() {
            let cell = manifest.cells[i]
            progress.startCell(cell, position: k + 1, of: todo.count)
            let t0 = monotonicSeconds()
            let res = try runner.runCell(cell, progress: progress)
            let wall = monotonicSeconds() - t0
            precondition(res.evals.map(\.dataset) == manifest.datasets, "runner returned datasets \(res.evals.map(\.dataset))")
            let rec = makeCellRecord(index: i, result: res, fp32: fp32, wall: wall, provenance: prov, gitCommit: gitCommit)
            if let table = res.sensitivity {   // plan cells: the sensitivity table behind the plan
                let sdir = dir.appendingPathComponent("sensitivity")
                try FileManager.default.createDirectory(at: sdir, withIntermediateDirectories: true)
                try writeDurably(Data(sensitivityCSV(table).text.utf8), to: sdir.appendingPathComponent(cellRecordName(i).replacingOccurrences(of: ".json", with: ".csv")))
            }
            try writeDurably(try JSONIO.encoder().encode(rec), to: dir.appendingPathComponent("cells").appendingPathComponent(cellRecordName(i)))
            records.append(rec)
            records.sort { $0.index < $1.index }
            try writeTables(dir, records: records)
            progress.finishCell(countsForSpeed: !cell.recipe.isFP32)
            let ppls = res.evals.map { "\($0.dataset) \(String(format: "%.3f", $0.ppl))" }.joined(separator: ", ")
            progress.note("done \(cell.id): \(ppls) (\(formatDuration(wall)))")
        }
        progress.endLine()
        return todo.count
    }

    /// The record of cell `i` from its result.
    func makeCellRecord(index i: Int, result res: CellResult, fp32: [String: Double], wall: Double, provenance: Provenance,
                        gitCommit: String) -> CellRecord {
        makeRecord(manifest: manifest, index: i, result: res, fp32: fp32, wall: wall, provenance: provenance, gitCommit: gitCommit)
    }

}

/// The self-contained record of cell `i` of `manifest` (a sweep's `cells/NNNN.json`, `mxq eval --json`'s source).
public func makeRecord(manifest: Manifest, index i: Int, result res: CellResult, fp32: [String: Double], wall: Double,
                       provenance: Provenance, gitCommit: String) -> CellRecord {
    let cell = manifest.cells[i]
    let cal = manifest.calibration(of: cell)
    var prov = provenance
    if let h = res.calibrationSHA256 { prov.calibrationSHA256 = h }
    var rec = CellRecord(
        index: i, id: cell.id, model: manifest.model, recipe: cell.recipe.name, stages: cell.recipe.stagesDescription,
        weights: cell.weights ?? "none", acts: cell.acts ?? "none", block: cell.block, scaleRule: cell.scaleRule,
        rounding: cell.rounding, seed: cell.seed, calibDataset: cal.dataset, calibN: cal.n, calibLen: cal.len, ctx: manifest.ctx,
        evals: res.evals, fp32PPL: fp32, layers: res.layers, quantizeSeconds: res.quantizeSeconds,
        wallSeconds: wall, weightBits: cell.weightBitsPerElement, provenance: prov,
        manifestSHA256: manifest.sha256, gitCommit: gitCommit)
    if !cell.recipe.isFP32 { rec.cachedHessians = res.cachedHessians; rec.stageSeconds = res.stageSeconds }
    if let p = res.plan { rec.plan = p; rec.weightBits = p.averageBits; rec.weights = "plan" }
    rec.path = res.path
    return rec
}

/// Creates `parent/leaf` (or `leaf-2`, `leaf-3`, … when taken) with an atomic `mkdir`, so two
/// sweeps started in the same second never share a default results folder.
public func makeUniqueFolder(_ parent: URL, leaf: String) throws -> URL {
    try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
    for k in 1...1000 {
        let u = parent.appendingPathComponent(k == 1 ? leaf : "\(leaf)-\(k)")
        if mkdir(u.path, 0o755) == 0 { return u }
        if errno != EEXIST { throw UsageError("cannot create \(u.path): \(String(cString: strerror(errno)))") }
    }
    throw UsageError("cannot find a free folder name for \(leaf) in \(parent.path)")
}

/// Why two records' inputs differ (model, evaluation data, calibration text), or nil. `calibration`
/// is the expected calibration hash of the cell when known (cells with their own calibration data).
func provenanceMismatch(_ a: Provenance, _ b: Provenance, calibration: String? = nil) -> String? {
    if a.modelSHA256 != b.modelSHA256 { return "model sha256 \(a.modelSHA256) vs \(b.modelSHA256)" }
    for (d, h) in a.dataSHA256.sorted(by: { $0.key < $1.key }) where b.dataSHA256[d] != nil && b.dataSHA256[d] != h {
        return "\(d) sha256 \(h) vs \(b.dataSHA256[d]!)"
    }
    let expected = calibration ?? b.calibrationSHA256
    if a.calibrationSHA256 != expected { return "calibration text sha256 \(a.calibrationSHA256) vs \(expected)" }
    return nil
}

/// An exclusive advisory lock on a results folder (`DIR/.lock`, `flock`), released when the
/// object is deinitialized or the process ends (also when killed).
final class FolderLock {
    private let fd: Int32
    init(_ dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(".lock").path
        fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw UsageError("cannot open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw UsageError("\(dir.path) is in use by another mxq process\(holder.isEmpty ? "" : " (pid \(holder))"); one writer per results folder: wait for it, or use another --out")
        }
        _ = ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }
    deinit { close(fd) }
}

struct BaselineFile: Codable {
    var provenance: Provenance
    var evals: [DatasetResult]
}

/// The `--dry-run` listing: cells, shard membership and estimated time.
public func dryRunListing(_ m: Manifest, shard: Shard?, cost: CostModel = CostModel()) -> String {
    var s = "manifest \(m.name): \(m.cells.count) cell(s) × \(m.datasets.count) dataset(s) (\(m.datasets.joined(separator: ", "))), "
    s += "windows \(m.windows.map(String.init) ?? "all") × ctx \(m.ctx)\(m.bos ? " with BOS" : ""); calibration \(m.calibrationDataset) \(m.calibrationSamples)×\(m.calibrationLength)\n"
    s += "model \(m.model); manifest sha256 \(m.sha256)\n"
    if let sh = shard { s += "shard \(sh): runs cells with index ≡ \(sh.index) mod \(sh.count)\n" }
    var total = cost.baselineSeconds(m)
    func row(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
        pad(a, 5, right: true) + "  " + pad(b, 50) + " " + pad(c, 26) + " " + pad(d, 8, right: true) + "\n"
    }
    s += row("index", "cell id", "stages", "est.")
    s += row("-", "(fp32 baseline, computed once)", "", formatDuration(cost.baselineSeconds(m)))
    for (i, c) in m.cells.enumerated() where shard?.contains(i) ?? true {
        let e = cost.cellSeconds(c, m)
        total += e
        let stages = c.recipe.stages.isEmpty ? (c.recipe.isFP32 ? "fp32" : "rtn") : c.recipe.stages.map(\.name).joined(separator: ">")
        s += row(String(i), c.id, stages, formatDuration(e))
    }
    for k in m.skipped { s += "skipped: \(k)\n" }
    s += "estimated total: \(formatDuration(total)) (rough; on 2 cores, scales with tokens evaluated and calibrated)\n"
    return s
}

/// Pads `s` with spaces to `width` characters (left-aligned unless `right`).
func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let n = s.count
    if n >= width { return s }
    let sp = String(repeating: " ", count: width - n)
    return right ? sp + s : s + sp
}
