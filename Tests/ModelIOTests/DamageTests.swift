import XCTest
import Support
import TestSupport
@testable import ModelIO

/// Files damaged on purpose: each gives the right typed error naming file/tensor; nothing crashes.
final class DamageTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = makeTempDir("mio-dmg") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func path(_ n: String) -> String { dir.appendingPathComponent(n).path }

    func write(_ bytes: [UInt8], _ name: String) -> String {
        let p = path(name)
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    func smallGGUF() -> [UInt8] {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("tokenizer.ggml.tokens", .array(.string, [.string("a"), .string("bc")]))
        w.set("nested", .array(.array, [.array(.int32, [.int32(1), .int32(-2)]), .array(.string, [])]))
        w.addTensor("a", shape: [2, 32], values: randomFloats(64, seed: 1), type: .q4_1)
        w.addTensor("b", shape: [5], values: [1, 2, 3, 4, 5])
        return w.serialized()
    }

    /// Asserts `body` throws a ModelIOError accepted by `check` whose message names the file `p`
    /// and every string in `names` (tensor, key, type).
    func expectError(_ p: String, names: [String] = [], _ body: () throws -> Void, file: StaticString = #filePath,
                     line: UInt = #line, _ check: (ModelIOError) -> Bool) {
        do { try body(); XCTFail("no error for \(p)", file: file, line: line) }
        catch let e as ModelIOError {
            XCTAssertTrue(check(e), "wrong error: \(e)", file: file, line: line)
            for n in [p] + names {
                XCTAssertTrue(e.description.contains(n), "message does not name '\(n)': \(e)", file: file, line: line)
            }
        } catch { XCTFail("not a ModelIOError: \(error)", file: file, line: line) }
    }

    func testBadMagic() {
        var b = smallGGUF(); b[0] = UInt8(ascii: "X")
        let p = write(b, "magic.gguf")
        expectError(p, { _ = try GGUFFile(path: p) }) { if case .badMagic = $0 { return true }; return false }
        let p2 = write([], "empty.gguf")
        expectError(p2, { _ = try GGUFFile(path: p2) }) { if case .truncated = $0 { return true }; return false }
    }

    func testUnsupportedVersion() {
        for v: UInt32 in [1, 4, 0x0300_0000] {
            var b = smallGGUF()
            withUnsafeBytes(of: v.littleEndian) { for i in 0..<4 { b[4 + i] = $0[i] } }
            let p = write(b, "v\(v).gguf")
            expectError(p, { _ = try GGUFFile(path: p) }) { if case .unsupportedVersion(_, v) = $0 { return true }; return false }
        }
    }

    func testVersion2Reads() throws {
        var w = GGUFWriter(version: 2)
        w.addTensor("x", shape: [3], values: [1, 2, 3])
        let p = write(w.serialized(), "v2.gguf")
        let f = try GGUFFile(path: p)
        XCTAssertEqual(f.version, 2)
        XCTAssertEqual(try f.tensorF32("x"), [1, 2, 3])
    }

    /// Cutting the file inside tensor data names the tensor; inside the header gives `truncated`.
    func testTruncated() throws {
        let b = smallGGUF()
        let good = try GGUFFile(path: write(b, "good.gguf"))
        let bInfo = try good.tensorInfo("b")
        let cut = good.dataOffset + bInfo.offset + 8      // inside tensor b's 20 bytes
        let p = write(Array(b[0..<cut]), "cut.gguf")
        expectError(p, { _ = try GGUFFile(path: p) }) {
            if case let .tensorOutOfBounds(_, t, _, _, s) = $0 { return t == "b" && s == cut }; return false
        }
        let p2 = write(Array(b[0..<30]), "cut2.gguf")
        expectError(p2, { _ = try GGUFFile(path: p2) }) { if case .truncated = $0 { return true }; return false }
    }

    /// Every prefix of a valid file is rejected with a ModelIOError (never a crash) — except
    /// those that still hold all data (the trailing padding after the last tensor).
    func testEveryPrefixIsRejectedOrComplete() throws {
        let b = smallGGUF()
        let f = try GGUFFile(path: write(b, "full.gguf"))
        let needed = f.tensors.map { f.dataOffset + $0.offset + $0.byteCount }.max()!
        // Every prefix through the tensor infos, then every 5th inside the data.
        for n in Array(0..<f.dataOffset) + Array(stride(from: f.dataOffset, to: b.count, by: 5)) {
            let p = write(Array(b[0..<n]), "prefix.gguf")
            do {
                let g = try GGUFFile(path: p)
                XCTAssertGreaterThanOrEqual(n, needed, "prefix \(n) accepted")
                for t in g.tensors { _ = try g.tensorF32(t.name) }
            } catch is ModelIOError {
                XCTAssertLessThan(n, needed, "prefix \(n) rejected")
            }
        }
    }

    /// Random byte corruption: opening and reading may fail, but only with a ModelIOError.
    func testRandomCorruptionNeverCrashes() {
        let b = smallGGUF()
        var g = SplitMix64(seed: 99)
        for trial in 0..<200 {
            var c = b
            for _ in 0..<(1 + Int(g.next() % 4)) {
                let i = Int(g.next() % UInt64(c.count))
                c[i] = trial % 3 == 0 ? 0xFF : UInt8(truncatingIfNeeded: g.next())
            }
            let p = write(c, "fuzz.gguf")
            do {
                let f = try GGUFFile(path: p)
                for t in f.tensors { _ = try? f.tensorF32(t.name) }
            } catch is ModelIOError {
            } catch { XCTFail("trial \(trial): unexpected \(error)") }
        }
    }

    /// Huge string length / array count / tensor count fields are capped by the file size.
    func testHugeLengthsRejected() {
        var w = GGUFWriter()
        w.set("k", .string("hello"))
        var b = w.serialized()
        // Header is 24 bytes, then key length (8) + "k" (1) + type (4) + value length (8).
        let lenAt = 24 + 8 + 1 + 4
        for i in 0..<8 { b[lenAt + i] = 0xFF }
        let p = write(b, "hugestr.gguf")
        expectError(p, { _ = try GGUFFile(path: p) }) { if case .truncated = $0 { return true }; return false }

        var w2 = GGUFWriter()
        w2.set("arr", .array(.uint32, [.uint32(1)]))
        var b2 = w2.serialized()
        let cntAt = 24 + 8 + 3 + 4 + 4
        for i in 0..<8 { b2[cntAt + i] = 0x7F }
        let p2 = write(b2, "hugearr.gguf")
        expectError(p2, { _ = try GGUFFile(path: p2) }) { if case .truncated = $0 { return true }; return false }

        var b3 = GGUFWriter().serialized()
        for i in 0..<8 { b3[8 + i] = 0xFF }
        let p3 = write(b3, "hugecount.gguf")
        expectError(p3, { _ = try GGUFFile(path: p3) }) { if case .truncated = $0 { return true }; return false }
    }

    /// A tensor whose offset or shape reaches past the end of the file.
    func testOffsetOrShapePastEnd() {
        var w = GGUFWriter()
        w.addRawTensor("blk.0.attn_q.weight", dims: [32, 1000], type: .q8_0, data: [UInt8](repeating: 0, count: 34))
        let p = write(w.serialized(), "shape.gguf")
        expectError(p, names: ["blk.0.attn_q.weight"], { _ = try GGUFFile(path: p) }) {
            if case let .tensorOutOfBounds(_, t, _, _, _) = $0 { return t == "blk.0.attn_q.weight" }; return false
        }
        var b = smallGGUF()
        // Patch tensor "b"'s offset (the last 8 bytes of its info) to a huge aligned value.
        // Locate the info by searching for its name bytes followed by the dim count 1.
        let needle: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, UInt8(ascii: "b"), 1, 0, 0, 0]
        let at = (0..<(b.count - needle.count)).first { Array(b[$0..<($0 + needle.count)]) == needle }!
        let offAt = at + needle.count + 8 + 4
        let big = UInt64(1 << 40)
        withUnsafeBytes(of: big.littleEndian) { for i in 0..<8 { b[offAt + i] = $0[i] } }
        let p2 = write(b, "offset.gguf")
        expectError(p2, { _ = try GGUFFile(path: p2) }) {
            if case let .tensorOutOfBounds(_, t, _, _, _) = $0 { return t == "b" }; return false
        }
    }

    /// Types the reader knows but cannot convert, and unknown type ids, name the tensor and type.
    func testUnsupportedDType() throws {
        var w = GGUFWriter()
        w.addRawTensor("blk.0.ffn_up.weight", dims: [256, 1], type: .q6_K, data: [UInt8](repeating: 0, count: 210))
        let p = write(w.serialized(), "q6k.gguf")
        let f = try GGUFFile(path: p)
        expectError(p, names: ["blk.0.ffn_up.weight", "Q6_K"], { _ = try f.tensorF32("blk.0.ffn_up.weight") }) {
            if case let .unsupportedDType(_, t, d, _) = $0 { return t == "blk.0.ffn_up.weight" && d == "Q6_K" }; return false
        }
        // A quantized tensor with zero dims (a scalar) or a row that is not whole blocks.
        for dims in [[], [48]] {
            var w1 = GGUFWriter()
            w1.addRawTensor("s", dims: dims, type: .q4_0, data: [UInt8](repeating: 0, count: 36))
            let p1 = write(w1.serialized(), "scalar.gguf")
            expectError(p1, names: ["'s'", "Q4_0"], { _ = try GGUFFile(path: p1) }) { if case .malformed = $0 { return true }; return false }
        }
        var w2 = GGUFWriter()
        w2.addRawTensor("x", dims: [4], type: GGMLType(rawValue: 99), data: [0, 0, 0, 0])
        let p2 = write(w2.serialized(), "t99.gguf")
        expectError(p2, names: ["'x'", "type#99"], { _ = try GGUFFile(path: p2) }) {
            if case let .unsupportedDType(_, t, d, _) = $0 { return t == "x" && d == "type#99" }; return false
        }
    }

    func testMissingTensorInFileAndCheckpoint() throws {
        let p = write(smallGGUF(), "s.gguf")
        let f = try GGUFFile(path: p)
        expectError(p, { _ = try f.tensorF32("nope") }) { $0 == .missingTensor(path: p, tensor: "nope") }

        let gp = path("missing.gguf")
        var w = GGUFWriter()
        let full = tinyCheckpoint()
        let cfg = full.config
        try full.writeGGUF(to: gp)   // write full, then rebuild without one tensor
        let g = try GGUFFile(path: gp)
        for k in g.metadataKeys { w.set(k, g[k]!) }
        for t in g.tensors where t.name != "blk.1.ffn_up.weight" {
            w.addRawTensor(t.name, dims: t.dims, type: t.type, data: Array(g.rawData(t)))
        }
        let mp = write(w.serialized(), "missing2.gguf")
        expectError(mp, names: ["model.layers.1.mlp.up_proj.weight"], { _ = try LlamaCheckpoint.load(path: mp) }) {
            $0 == .missingTensor(path: mp, tensor: "model.layers.1.mlp.up_proj.weight")
        }
        XCTAssertEqual(cfg.layers, 2)
    }

    func testShapeMismatchAndNaNInCheckpoint() throws {
        var ck = tinyCheckpoint()
        ck.tensors["model.layers.0.self_attn.k_proj.weight"] = .init(shape: [16, 64], data: [Float](repeating: 0, count: 1024))
        let gp = path("shape.gguf")
        try ck.writeGGUF(to: gp)
        expectError(gp, names: ["model.layers.0.self_attn.k_proj.weight", "[32, 64]"], { _ = try LlamaCheckpoint.load(path: gp) }) {
            $0 == .shapeMismatch(path: gp, tensor: "model.layers.0.self_attn.k_proj.weight", found: [16, 64], expected: [32, 64])
        }
        var ck2 = tinyCheckpoint()
        ck2.tensors["model.norm.weight"]!.data[5] = .nan
        let hp = path("nanhf")
        try ck2.writeHFFolder(to: hp)
        let stp = hp + "/model.safetensors"
        expectError(stp, names: ["model.norm.weight"], { _ = try LlamaCheckpoint.load(path: hp) }) {
            if case let .nonFinite(_, t, i, _) = $0 { return t == "model.norm.weight" && i == 5 }; return false
        }
    }

    func testWrongArchitectureAndMissingMetadata() throws {
        var w = GGUFWriter()
        w.set("general.architecture", .string("gemma"))
        let p = write(w.serialized(), "arch.gguf")
        expectError(p, { _ = try LlamaCheckpoint.load(path: p) }) {
            if case let .badMetadata(_, k, _, _) = $0 { return k == "general.architecture" }; return false
        }
        var w2 = GGUFWriter()
        w2.set("general.architecture", .string("llama"))
        w2.set("llama.embedding_length", .uint32(64))
        w2.set("llama.attention.head_count", .string("four"))
        let p2 = write(w2.serialized(), "meta.gguf")
        expectError(p2, { _ = try LlamaCheckpoint.load(path: p2) }) {
            if case let .badMetadata(_, k, _, _) = $0 { return k == "llama.attention.head_count" }; return false
        }
    }

    func testMisalignedOffsetAndBadAlignment() {
        var w = GGUFWriter()
        w.set("general.alignment", .uint32(24))
        let p = write(w.serialized(), "align.gguf")
        expectError(p, { _ = try GGUFFile(path: p) }) {
            if case let .badMetadata(_, k, _, _) = $0 { return k == "general.alignment" }; return false
        }
    }

    func testNotAFile() {
        let p = path("does-not-exist.gguf")
        expectError(p, { _ = try GGUFFile(path: p) }) { if case .cannotOpen = $0 { return true }; return false }
        expectError(p, { _ = try LlamaCheckpoint.load(path: p) }) { if case .cannotOpen = $0 { return true }; return false }
    }
}
