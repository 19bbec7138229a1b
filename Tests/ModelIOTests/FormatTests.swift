import XCTest
import Support
import TestSupport
@testable import ModelIO

final class FormatTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = makeTempDir("mio-fmt") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }
    func path(_ n: String) -> String { dir.appendingPathComponent(n).path }

    /// Every metadata value type (incl. nested and empty arrays) survives write → read, in order,
    /// and tensor infos keep dims, type and aligned offsets.
    func testGGUFMetadataRoundTrip() throws {
        let values: [(String, GGUFValue)] = [
            ("u8", .uint8(250)), ("i8", .int8(-100)), ("u16", .uint16(65000)), ("i16", .int16(-30000)),
            ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)), ("u64", .uint64(UInt64.max)),
            ("i64", .int64(Int64.min)), ("f32", .float32(1.5e-5)), ("f64", .float64(-2.25e300)),
            ("b", .bool(true)), ("s", .string("héllo ✓ \u{0}end")), ("empty", .string("")),
            ("strs", .array(.string, [.string("a"), .string(""), .string("Ġt")])),
            ("ints", .array(.int32, [.int32(3), .int32(-1)])),
            ("none", .array(.float32, [])),
            ("nested", .array(.array, [.array(.uint8, [.uint8(1)]), .array(.string, [.string("x")]), .array(.bool, [])])),
        ]
        for version: UInt32 in [2, 3] {
            for align in [32, 64] {
                var w = GGUFWriter(version: version, alignment: align)
                for (k, v) in values { w.set(k, v) }
                w.addTensor("t1", shape: [3], values: [1, 2, 3])
                w.addTensor("t2", shape: [2, 64], values: randomFloats(128, seed: 2), type: .q4_0)
                w.addTensor("t3", shape: [5], values: [1, 2, 3, 4, 5], type: .bf16)
                let p = path("md\(version)-\(align).gguf")
                try w.write(to: p)
                let f = try GGUFFile(path: p)
                XCTAssertEqual(f.version, version)
                XCTAssertEqual(f.alignment, align)
                let expectKeys = values.map(\.0) + (align == 32 ? [] : ["general.alignment"])
                XCTAssertEqual(f.metadataKeys, expectKeys)
                for (k, v) in values { XCTAssertEqual(f[k], v, k) }
                XCTAssertEqual(f.tensors.map(\.name), ["t1", "t2", "t3"])
                XCTAssertEqual(f.tensors.map(\.dims), [[3], [64, 2], [5]])
                XCTAssertEqual(f.tensors.map(\.type), [.f32, .q4_0, .bf16])
                XCTAssertEqual(f.tensors.map(\.byteCount), [12, 4 * 18, 10])
                XCTAssertTrue(f.tensors.allSatisfy { $0.offset % align == 0 })
                XCTAssertEqual(f.dataOffset % align, 0)
                XCTAssertEqual(try f.tensorF32("t3"), [1, 2, 3, 4, 5])
            }
        }
    }

    func testValueAccessors() {
        XCTAssertEqual(GGUFValue.uint32(7).int, 7)
        XCTAssertEqual(GGUFValue.int8(-3).double, -3)
        XCTAssertEqual(GGUFValue.float32(0.5).double, 0.5)
        XCTAssertNil(GGUFValue.float32(0.5).int)
        XCTAssertNil(GGUFValue.uint64(UInt64.max).int)
        XCTAssertEqual(GGUFValue.string("x").string, "x")
        XCTAssertEqual(GGUFValue.array(.string, [.string("a"), .string("b")]).stringArray, ["a", "b"])
        XCTAssertNil(GGUFValue.array(.int32, [.int32(1)]).stringArray)
        XCTAssertEqual(GGUFValue.array(.int32, [.int32(1), .int32(-2)]).intArray, [1, -2])
        XCTAssertEqual(GGUFValue.array(.float32, [.float32(1.5)]).doubleArray, [1.5])
        XCTAssertEqual(GGUFValue.bool(false).bool, false)
    }

    func testSafetensorsRoundTrip() throws {
        var w = SafetensorsWriter(metadata: ["format": "pt"])
        let a = randomFloats(12, seed: 5)
        w.add("a", shape: [3, 4], values: a)
        w.add("h", shape: [3], values: [1, -2.5, 65504], dtype: .f16)
        w.add("b", shape: [2], values: [1, -3], dtype: .bf16)
        w.add("weird \"name\"", shape: [], values: [7])
        let p = path("x.safetensors")
        try w.write(to: p)
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(f.metadata, ["format": "pt"])
        XCTAssertEqual(f.entries.map(\.name), ["a", "h", "b", "weird \"name\""])
        XCTAssertEqual(try f.entry("a").shape, [3, 4]); XCTAssertEqual(try f.entry("h").dtype, "F16")
        XCTAssertEqual(try f.tensorF32("a"), a)
        XCTAssertEqual(try f.tensorF32("h"), [1, -2.5, 65504])
        XCTAssertEqual(try f.tensorF32("b"), [1, -3])
        XCTAssertEqual(try f.tensorF32("weird \"name\""), [7])
        // Header length is a multiple of 8 and the data starts right after it.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: p))
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | (Int($1.1) << (8 * $1.0)) }
        XCTAssertEqual(n % 8, 0)
        XCTAssertEqual(try f.entry("a").start, 8 + n)
    }

    func testSafetensorsDamage() throws {
        func expect(_ bytes: [UInt8], _ name: String, _ check: (ModelIOError) -> Bool) {
            let p = path(name)
            FileManager.default.createFile(atPath: p, contents: Data(bytes))
            do {
                let f = try SafetensorsFile(path: p)
                for e in f.entries { _ = try f.tensorF32(e.name) }
                XCTFail("no error for \(name)")
            } catch let e as ModelIOError {
                XCTAssertTrue(check(e), "\(name): \(e)"); XCTAssertTrue(e.description.contains(p))
            } catch { XCTFail("\(error)") }
        }
        var w = SafetensorsWriter()
        w.add("w", shape: [4], values: [1, 2, 3, 4])
        let good = w.serialized()
        expect(Array(good.prefix(5)), "short.safetensors") { if case .truncated = $0 { return true }; return false }
        expect(Array(good.dropLast(4)), "cut.safetensors") { if case let .tensorOutOfBounds(_, t, _, _, _) = $0 { return t == "w" }; return false }
        var huge = good; for i in 0..<8 { huge[i] = 0xFF }
        expect(huge, "hugehdr.safetensors") { if case .truncated = $0 { return true }; return false }
        var notJSON = good; notJSON[8] = UInt8(ascii: "[")
        expect(notJSON, "json.safetensors") { if case .badMagic = $0 { return true }; return false }
        var w2 = SafetensorsWriter()
        w2.addRaw("ids", dtype: "I64", shape: [2], bytes: [UInt8](repeating: 0, count: 16))
        expect(w2.serialized(), "i64.safetensors") {
            if case let .unsupportedDType(_, t, d, _) = $0 { return t == "ids" && d == "I64" }; return false
        }
        var w3 = SafetensorsWriter()
        w3.addRaw("w", dtype: "F32", shape: [5], bytes: [UInt8](repeating: 0, count: 16))
        expect(w3.serialized(), "size.safetensors") { if case .malformed = $0 { return true }; return false }
        var w4 = SafetensorsWriter()
        w4.addRaw("w", dtype: "F8_X", shape: [1], bytes: [0])
        expect(w4.serialized(), "dtype.safetensors") { if case .unsupportedDType = $0 { return true }; return false }
        var w5 = SafetensorsWriter()
        w5.add("w", shape: [2], values: [1, .infinity])
        expect(w5.serialized(), "inf.safetensors") { if case let .nonFinite(_, t, i, _) = $0 { return t == "w" && i == 1 }; return false }
        // Random corruption never crashes.
        var g = SplitMix64(seed: 4)
        for trial in 0..<200 {
            var c = good
            let i = Int(g.next() % UInt64(c.count)); c[i] = UInt8(truncatingIfNeeded: g.next())
            let p = path("fuzz.safetensors")
            FileManager.default.createFile(atPath: p, contents: Data(c))
            do { let f = try SafetensorsFile(path: p); for e in f.entries { _ = try? f.tensorF32(e.name) } }
            catch is ModelIOError {} catch { XCTFail("trial \(trial): \(error)") }
        }
    }

    func testHFConfigParsing() throws {
        func expectBad(_ j: [String: Any], key: String) {
            XCTAssertThrowsError(try LlamaHyperparameters.fromHFConfig(j, path: "cfg.json")) { e in
                switch e as? ModelIOError {
                case let .missingMetadata(p, k)?, let .badMetadata(p, k, _, _)?:
                    XCTAssertEqual(k, key); XCTAssertEqual(p, "cfg.json"); XCTAssertTrue("\(e)".contains(key))
                default: XCTFail("\(e)")
                }
            }
        }
        let json = """
        {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
         "num_attention_heads": 9, "num_key_value_heads": 3, "rms_norm_eps": 1e-05, "rope_theta": 100000,
         "vocab_size": 49152, "tie_word_embeddings": true, "max_position_embeddings": 8192, "rope_scaling": null}
        """
        let p = path("config.json")
        try json.write(toFile: p, atomically: true, encoding: .utf8)
        let c = try LlamaHyperparameters.fromHFConfig(path: p)
        XCTAssertEqual(c, LlamaHyperparameters(vocab: 49152, hidden: 576, intermediate: 1536, layers: 30, heads: 9, kvHeads: 3,
                                               headDim: 64, rmsEps: 1e-5, ropeTheta: 100_000, tiedEmbeddings: true,
                                               contextLength: 8192))
        // Defaults: kv heads = heads, head_dim = hidden/heads, eps 1e-6, theta 1e4, untied, context 2048.
        let minimal = ["hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 10]
        let d = try LlamaHyperparameters.fromHFConfig(minimal, path: "m")
        XCTAssertEqual(d, LlamaHyperparameters(vocab: 10, hidden: 64, intermediate: 96, layers: 2, heads: 4, kvHeads: 4,
                                               headDim: 16, rmsEps: 1e-6, ropeTheta: 10_000, tiedEmbeddings: false,
                                               contextLength: 2048))
        // Integer fields equal to 0/1 are numbers, not booleans; a number is not a boolean.
        let one = try JSONSerialization.jsonObject(with: Data("""
            {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1, "num_attention_heads": 4,
             "num_key_value_heads": 1, "vocab_size": 10, "tie_word_embeddings": false}
            """.utf8)) as! [String: Any]
        let c1 = try LlamaHyperparameters.fromHFConfig(one, path: "one")
        XCTAssertEqual([c1.layers, c1.kvHeads], [1, 1]); XCTAssertFalse(c1.tiedEmbeddings)
        var tieNum = one; tieNum["tie_word_embeddings"] = NSNumber(value: 1)
        expectBad(tieNum, key: "tie_word_embeddings")
        var layersBool = one; layersBool["num_hidden_layers"] = true
        expectBad(layersBool, key: "num_hidden_layers")
        var withHeadDim: [String: Any] = minimal; withHeadDim["head_dim"] = 32
        XCTAssertEqual(try LlamaHyperparameters.fromHFConfig(withHeadDim, path: "m").headDim, 32)
        var m = minimal; m["vocab_size"] = nil
        expectBad(m, key: "vocab_size")
        var s: [String: Any] = minimal; s["rope_scaling"] = ["type": "dynamic", "factor": 2.0]
        expectBad(s, key: "rope_scaling.type")
        var t: [String: Any] = minimal; t["hidden_size"] = "576"
        expectBad(t, key: "hidden_size")
        var q: [String: Any] = minimal; q["model_type"] = "gemma"
        expectBad(q, key: "model_type")
        var k: [String: Any] = minimal; k["num_key_value_heads"] = 3
        expectBad(k, key: "kvHeads")
        // Round trip through hfConfigJSON.
        let cj = path("rt.json")
        try c.hfConfigJSON().write(toFile: cj, atomically: true, encoding: .utf8)
        XCTAssertEqual(try LlamaHyperparameters.fromHFConfig(path: cj), c)
    }

    /// A sharded HF folder (two safetensors files) loads like a single file; duplicates are rejected.
    func testShardedFolder() throws {
        let ck = tinyCheckpoint(tied: false)
        let d = path("sharded")
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        try ck.config.hfConfigJSON().write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
        var w1 = SafetensorsWriter(), w2 = SafetensorsWriter()
        for (i, e) in ck.config.expectedTensors().enumerated() {
            if i % 2 == 0 { w1.add(e.name, shape: e.shape, values: ck.tensors[e.name]!.data, dtype: .bf16) }
            else { w2.add(e.name, shape: e.shape, values: ck.tensors[e.name]!.data, dtype: .bf16) }
        }
        w2.add("model.rotary_emb.inv_freq", shape: [2], values: [1, 0.5])
        try w1.write(to: d + "/model-00001-of-00002.safetensors")
        try w2.write(to: d + "/model-00002-of-00002.safetensors")
        let h = try LlamaCheckpoint.load(path: d)
        XCTAssertEqual(h.ropeLayout, .halves)
        for (name, t) in ck.tensors {
            XCTAssertEqual(h.tensors[name]!.data, t.data.map { widenBF16(floatToBF16Bits($0)) }, name)
        }
        XCTAssertNil(h.tensors["model.rotary_emb.inv_freq"])
        var w3 = SafetensorsWriter()
        w3.add("model.norm.weight", shape: [64], values: [Float](repeating: 1, count: 64))
        try w3.write(to: d + "/model-extra.safetensors")
        XCTAssertThrowsError(try LlamaCheckpoint.load(path: d)) { e in
            guard case let .malformed(_, detail)? = e as? ModelIOError else { return XCTFail("\(e)") }
            XCTAssertTrue(detail.contains("model.norm.weight"))
        }
    }
}
