import XCTest
import Support
import TestSupport
@testable import ModelIO

/// Mutation fuzzing of the model loaders (issue #12 §2): a tiny valid GGUF and a tiny valid
/// safetensors checkpoint, written by mxq's own writers, get every length, count, type,
/// offset and dimension field of their headers overwritten with boundary and random values
/// (fixed seed). Every mutant must load or give a typed one-line error, fast, and the
/// process's peak RSS may grow by at most 4× the file size + 1 GB over the whole run.
final class MutationFuzzTests: XCTestCase {
    static let mutantsPerFormat = 2_000

    var dir: URL!
    override func setUp() { dir = fuzzScratchDir("mio-fuzz") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// 1 layer, hidden 32 (so the 2-D weights can be Q4_1), untied LM head.
    static func tinyCheckpoint() -> LlamaCheckpoint {
        let c = LlamaHyperparameters(vocab: 48, hidden: 32, intermediate: 64, layers: 1, heads: 4, kvHeads: 2,
                                     headDim: 8, rmsEps: 1e-5, ropeTheta: 10_000, tiedEmbeddings: false,
                                     contextLength: 64)
        var t: [String: LlamaCheckpoint.Tensor] = [:]
        for (i, (name, shape)) in c.expectedTensors().enumerated() {
            t[name] = LlamaCheckpoint.Tensor(shape: shape, data: randomFloats(shape.reduce(1, *), seed: UInt64(i + 1), scale: 0.1))
        }
        return LlamaCheckpoint(config: c, ropeLayout: .halves, tensors: t)
    }

    func tinyGGUF() throws -> [UInt8] {
        let p = dir.appendingPathComponent("base.gguf").path
        let toks: [GGUFValue] = (0..<48).map { .string("t\($0)") }
        try Self.tinyCheckpoint().writeGGUF(to: p, type: .q4_1, extraMetadata: [
            ("general.alignment", .uint32(32)),
            ("tokenizer.ggml.tokens", .array(.string, toks)),
            ("tokenizer.ggml.token_type", .array(.int32, (0..<48).map { .int32(Int32($0 % 3)) })),
            ("nested", .array(.array, [.array(.uint16, [.uint16(7)]), .array(.string, [])])),
        ])
        return Array(try Data(contentsOf: URL(fileURLWithPath: p)))
    }

    /// Opens `p` as a GGUF (with summary) and as a Llama checkpoint.
    static func loadGGUF(_ p: String) throws {
        let f = try GGUFFile(path: p)
        _ = f.summary()
        _ = try LlamaCheckpoint.load(path: p, threads: 1)
    }

    func checkBudget(_ hwm0: Int?, fileSize: Int, _ what: String) {
        guard let a = hwm0, let b = peakRSSBytes() else { return }
        print("\(what): peak RSS \(b >> 20) MiB, grew by \((b - a) >> 10) KiB during the run")
        XCTAssertLessThanOrEqual(b - a, 4 * fileSize + (1 << 30), "\(what): peak RSS grew by \(b - a) bytes")
    }

    func testGGUFMutants() throws {
        let base = try tinyGGUF()
        try Self.loadGGUF(dir.appendingPathComponent("base.gguf").path)     // the base loads
        let fields = ggufFields(base)
        XCTAssertGreaterThan(fields.count, 60)
        let mutants = binaryMutants(of: base, fields: fields, count: Self.mutantsPerFormat, seed: 0x6775_6666)
        XCTAssertGreaterThanOrEqual(mutants.count, 2_000)
        let p = dir.appendingPathComponent("m.gguf").path
        let hwm0 = peakRSSBytes()
        let t0 = monotonicSeconds()
        let tally = runFuzz(format: "gguf", count: mutants.count, describe: { mutants[$0].description }) { i in
            writeFuzzFile(mutants[i].apply(to: base), to: p)
            try Self.loadGGUF(p)
        }
        print("GGUF fuzz: \(mutants.count) mutants over \(fields.count) fields of a \(base.count)-byte file in \(String(format: "%.1f", monotonicSeconds() - t0)) s: \(tally)")
        XCTAssertTrue(tally.failures.isEmpty, tally.failures.prefix(20).joined(separator: "\n"))
        XCTAssertGreaterThan(tally.rejected, mutants.count / 2)
        checkBudget(hwm0, fileSize: base.count, "GGUF fuzz")
    }

    // MARK: safetensors

    /// A folder with config.json + model.safetensors; returns (folder, header JSON bytes, data bytes).
    func tinyHFFolder() throws -> (String, [UInt8], [UInt8], [UInt8]) {
        let d = dir.appendingPathComponent("base-hf").path
        try Self.tinyCheckpoint().writeHFFolder(to: d, dtype: .f16)
        let st = Array(try Data(contentsOf: URL(fileURLWithPath: d + "/model.safetensors")))
        let n = Int(FuzzValues.read(st, BinaryField(offset: 0, width: 8, what: "")))
        let config = Array(try Data(contentsOf: URL(fileURLWithPath: d + "/config.json")))
        return (d, Array(st[8..<(8 + n)]), Array(st[(8 + n)...]), config)
    }

    static func safetensorsBytes(header: [UInt8], data: [UInt8]) -> [UInt8] {
        var h = header
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
        return out + h + data
    }

    func testSafetensorsMutants() throws {
        let (baseDir, header, data, config) = try tinyHFFolder()
        _ = try LlamaCheckpoint.load(path: baseDir, threads: 1)
        let base = Self.safetensorsBytes(header: header, data: data)
        // (a) the 8-byte header length: every boundary value;
        let lenField = BinaryField(offset: 0, width: 8, what: "header length")
        let lenMutants = FuzzValues.boundaries(width: 8, orig: FuzzValues.read(base, lenField), fileSize: base.count)
        // (b) every number/string of the JSON header (dims, offsets, dtypes, names), length fixed up;
        let (htoks, hm) = jsonMutants(of: header, count: Self.mutantsPerFormat, seed: 0x5354_4846)
        // (c) config.json values (sizes, layer count, flags).
        let (ctoks, cm) = jsonMutants(of: config, count: 300, seed: 0x434f_4e46)
        let total = lenMutants.count + hm.count + cm.count
        let d = dir.appendingPathComponent("m-hf").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        func describe(_ i: Int) -> String {
            if i < lenMutants.count { return "header length=\(String(lenMutants[i], radix: 16))" }
            if i < lenMutants.count + hm.count { return "header " + hm[i - lenMutants.count].description }
            return "config.json " + cm[i - lenMutants.count - hm.count].description
        }
        let hwm0 = peakRSSBytes()
        let t0 = monotonicSeconds()
        let tally = runFuzz(format: "safetensors", count: total, describe: describe) { i in
            var st = base, cfg = config
            if i < lenMutants.count {
                FuzzValues.patch(&st, lenField, lenMutants[i])
            } else if i < lenMutants.count + hm.count {
                st = Self.safetensorsBytes(header: hm[i - lenMutants.count].apply(to: header, tokens: htoks), data: data)
            } else {
                cfg = cm[i - lenMutants.count - hm.count].apply(to: config, tokens: ctoks)
            }
            writeFuzzFile(st, to: d + "/model.safetensors")
            writeFuzzFile(cfg, to: d + "/config.json")
            _ = try LlamaCheckpoint.load(path: d, threads: 1)
        }
        print("safetensors fuzz: \(total) mutants (\(hm.count) header, \(lenMutants.count) length, \(cm.count) config) of a \(base.count)-byte file in \(String(format: "%.1f", monotonicSeconds() - t0)) s: \(tally)")
        XCTAssertGreaterThanOrEqual(hm.count + lenMutants.count, 2_000)
        XCTAssertTrue(tally.failures.isEmpty, tally.failures.prefix(20).joined(separator: "\n"))
        checkBudget(hwm0, fileSize: base.count, "safetensors fuzz")
    }

    // MARK: regressions named by the issue

    /// A metadata key length of 0x7FFF_FFFF_FFFF_FFFF (used to trap with an overflow).
    func testHugeKeyLengthIsTyped() throws {
        var b = try tinyGGUF()
        FuzzValues.patch(&b, BinaryField(offset: 24, width: 8, what: ""), 0x7FFF_FFFF_FFFF_FFFF)
        let p = dir.appendingPathComponent("key.gguf").path
        FileManager.default.createFile(atPath: p, contents: Data(b))
        XCTAssertThrowsError(try GGUFFile(path: p)) { XCTAssertTrue($0 is ModelIOError, "\($0)") }
    }

    /// `general.alignment` stored as a UINT64 above Int.max (used to trap on a nil unwrap).
    func testUInt64AlignmentIsTyped() throws {
        var w = GGUFWriter()
        w.set("general.alignment", .uint64(UInt64(Int.max) + 5))
        w.addTensor("x", shape: [2], values: [1, 2])
        let p = dir.appendingPathComponent("align.gguf").path
        try w.write(to: p)
        XCTAssertThrowsError(try GGUFFile(path: p)) { e in
            XCTAssertTrue(e is ModelIOError, "\(e)")
            XCTAssertTrue("\(e)".contains("general.alignment"), "\(e)")
        }
    }

    /// Two tensors whose data regions overlap are rejected before anything is dequantized.
    func testOverlappingTensorsRejected() throws {
        var w = GGUFWriter()
        w.addTensor("a", shape: [64], values: randomFloats(64, seed: 3))
        w.addTensor("b", shape: [64], values: randomFloats(64, seed: 4))
        var b = w.serialized()
        let f = ggufFields(b).first { $0.what == "offset of tensor #1" }!
        FuzzValues.patch(&b, f, 128)       // b starts inside a (a is 256 bytes at 0)
        let p = dir.appendingPathComponent("overlap.gguf").path
        FileManager.default.createFile(atPath: p, contents: Data(b))
        XCTAssertThrowsError(try GGUFFile(path: p)) { e in
            guard case .malformed(_, let d)? = e as? ModelIOError else { return XCTFail("\(e)") }
            XCTAssertTrue(d.contains("overlap"), d)
        }
        FuzzValues.patch(&b, f, 0)         // both at 0: the same region twice
        FileManager.default.createFile(atPath: p, contents: Data(b))
        XCTAssertThrowsError(try GGUFFile(path: p)) { XCTAssertTrue($0 is ModelIOError, "\($0)") }
    }

    /// A huge `llama.block_count` in a small file is rejected from the tensor list, without
    /// enumerating (or allocating for) millions of expected tensors.
    func testHugeBlockCountIsCheap() throws {
        var b = try tinyGGUF()
        let f = ggufFields(b).first { $0.what == "llama.block_count" }!
        FuzzValues.patch(&b, f, 1 << 24)
        let p = dir.appendingPathComponent("blocks.gguf").path
        FileManager.default.createFile(atPath: p, contents: Data(b))
        let t0 = monotonicSeconds()
        XCTAssertThrowsError(try LlamaCheckpoint.load(path: p)) { XCTAssertTrue($0 is ModelIOError, "\($0)") }
        XCTAssertLessThan(monotonicSeconds() - t0, 2)
    }
}

/// Model paths that are not regular files are typed errors, never a blocking open or an
/// endless read (issue #12 §2/§3).
final class NonRegularModelFileTests: XCTestCase {
    func testFIFOAndDevicesAreRejected() throws {
        let dir = makeTempDir("mio-fifo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("m.gguf").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        var paths = [fifo]
        if FileManager.default.fileExists(atPath: "/dev/zero") { paths.append("/dev/zero") }
        for p in paths {
            let t0 = monotonicSeconds()
            XCTAssertThrowsError(try GGUFFile(path: p)) { XCTAssertTrue($0 is ModelIOError, "\($0)") }
            XCTAssertThrowsError(try SafetensorsFile(path: p)) { XCTAssertTrue($0 is ModelIOError, "\($0)") }
            XCTAssertThrowsError(try LlamaHyperparameters.fromHFConfig(path: p)) { XCTAssertTrue($0 is ModelIOError, "\($0)") }
            XCTAssertLessThan(monotonicSeconds() - t0, 2, p)
        }
    }
}
