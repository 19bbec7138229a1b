import XCTest
import Foundation
import ModelIO
import Support
import TestSupport
@testable import Tokenization

/// A minimal GGUF v3 writer for metadata-only files (no tensors), following the GGUF spec:
/// magic "GGUF", u32 version, u64 tensor count, u64 KV count, then per KV: u64-length key,
/// u32 value type, value (strings: u64 length + bytes; arrays: u32 element type, u64 count, elements).
private struct MiniGGUF {
    enum V { case str(String), u32(UInt32), strs([String]) }
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }

    static func file(_ kvs: [(String, V)]) -> [UInt8] {
        var w = MiniGGUF()
        w.bytes += Array("GGUF".utf8)
        w.u32(3); w.u64(0); w.u64(UInt64(kvs.count))
        for (k, v) in kvs {
            w.str(k)
            switch v {
            case .str(let s): w.u32(8); w.str(s)
            case .u32(let x): w.u32(4); w.u32(x)
            case .strs(let a): w.u32(9); w.u32(8); w.u64(UInt64(a.count)); for s in a { w.str(s) }
            }
        }
        return w.bytes
    }
}

final class GGUFTokenizerTests: XCTestCase {
    private func write(_ kvs: [(String, MiniGGUF.V)]) throws -> URL {
        let url = makeTempDir("tokgguf").appendingPathComponent("t.gguf")
        try Data(MiniGGUF.file(kvs)).write(to: url)
        return url
    }

    private func kvs(pre: String?, model: String = "gpt2", merges: [String]? = helloMerges) -> [(String, MiniGGUF.V)] {
        var a: [(String, MiniGGUF.V)] = [("general.architecture", .str("llama")),
                                         ("tokenizer.ggml.model", .str(model)),
                                         ("tokenizer.ggml.tokens", .strs(tinyVocab(helloMerges))),
                                         ("tokenizer.ggml.bos_token_id", .u32(1)),
                                         ("tokenizer.ggml.eos_token_id", .u32(2))]
        if let merges { a.append(("tokenizer.ggml.merges", .strs(merges))) }
        if let pre { a.append(("tokenizer.ggml.pre", .str(pre))) }
        return a
    }

    func testReadsTokensMergesPreAndSpecialIDs() throws {
        let url = try write(kvs(pre: "smollm"))
        let t = try BPETokenizer.load(model: url)
        XCTAssertEqual(t.preTokenizer, .smollm)
        XCTAssertEqual(t.vocabSize, 265)
        XCTAssertEqual(t.bosTokenID, 1)
        XCTAssertEqual(t.eosTokenID, 2)
        XCTAssertEqual(try t.encode("hello world 12"), [259, 264, 32, 49, 50])
        let g = try BPETokenizer(gguf: try GGUFFile(path: url.path), preTokenizer: "gpt2")
        XCTAssertEqual(g.preTokenizer, .gpt2)
        XCTAssertEqual(try g.encode("x 12"), try t.with(preTokenizer: .gpt2).encode("x 12"))
        XCTAssertEqual(try g.encode("x 12"), [120, 32, 49, 50])   // no merges with digits: Ġ 1 2 stay bytes, one piece
        XCTAssertEqual(try t.encode("x 12"), [120, 32, 49, 50])
    }

    func testBadMetadataIsAnError() throws {
        // Unknown pre-tokenizer names (llama.cpp's `default` regex set included): a typed error
        // naming the key and the name, never a fallback.
        for name in ["deepseek-llm", "default", "falcon", "LLAMA-BPE"] {
            XCTAssertThrowsError(try BPETokenizer.load(model: try write(kvs(pre: name)))) { e in
                guard case .invalid(_, let detail)? = e as? TokenizerError else { return XCTFail("\(e)") }
                XCTAssertTrue(detail.contains("tokenizer.ggml.pre is '\(name)'"), detail)
            }
        }
        // No pre-tokenizer in the file: an error, unless --pre chooses one.
        let noPre = try write(kvs(pre: nil))
        XCTAssertThrowsError(try BPETokenizer.load(model: noPre)) { e in
            guard case .missingField(let field, _, _)? = e as? TokenizerError else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "tokenizer.ggml.pre")
        }
        XCTAssertEqual(try BPETokenizer.load(model: noPre, preTokenizer: "gpt2").encode("hello"), [259])
        // Known names: the scanners, and the Llama-3 / Qwen2 Split patterns (same ids as their
        // tokenizer.json: RealTokenizerTests.testGGUFByteLevelVocabulariesMatchHFTokenizers).
        for (name, shown) in [("gpt-2", "gpt2"), ("starcoder", "smollm"), ("llama-bpe", "llama-bpe: Split(Isolated)+ByteLevel"),
                              ("llama3", "llama3: Split(Isolated)+ByteLevel"), ("qwen2", "NFC+qwen2: Split(Isolated)+ByteLevel")] {
            let t = try BPETokenizer.load(model: try write(kvs(pre: name)))
            XCTAssertEqual(t.preTokenizerName, shown)
            XCTAssertEqual(try t.encode("hello"), [259])
        }
        XCTAssertTrue(try BPETokenizer.load(model: try write(kvs(pre: "llama-bpe"))).ignoreMerges)
        XCTAssertFalse(try BPETokenizer.load(model: try write(kvs(pre: "qwen2"))).ignoreMerges)
        // digits: Llama-3 groups up to three, Qwen2 isolates each (no merges here, so pieces show as byte runs)
        XCTAssertEqual(try BPETokenizer.load(model: try write(kvs(pre: "llama-bpe"))).encode("1234"), [49, 50, 51, 52])
        // SentencePiece vocabulary, missing merges, a bad merge.
        XCTAssertThrowsError(try BPETokenizer.load(model: try write(kvs(pre: "gpt2", model: "llama"))))
        XCTAssertThrowsError(try BPETokenizer.load(model: try write(kvs(pre: "gpt2", merges: nil))))
        XCTAssertThrowsError(try BPETokenizer.load(model: try write(kvs(pre: "gpt2", merges: ["h e", "he"]))))
    }

    /// A SentencePiece (`llama`) vocabulary takes `tokenizer.ggml.pre` absent or `default` (what
    /// llama.cpp's converter writes); a byte-level name contradicts it and is refused naming the key.
    func testSentencePieceVocabularyPreTokenizerKey() throws {
        func file(pre: String?) throws -> URL {
            var w = GGUFWriter()
            w.set("general.architecture", .string("llama"))
            w.set("tokenizer.ggml.model", .string("llama"))
            let pieces = ["<unk>", "<s>", "</s>", "\u{2581}", "a", "\u{2581}a"]
            w.set("tokenizer.ggml.tokens", .array(.string, pieces.map { .string($0) }))
            w.set("tokenizer.ggml.scores", .array(.float32, [0, 0, 0, -1, -2, -3].map { .float32($0) }))
            w.set("tokenizer.ggml.token_type", .array(.int32, [2, 3, 3, 1, 1, 1].map { .int32($0) }))
            if let pre { w.set("tokenizer.ggml.pre", .string(pre)) }
            let url = makeTempDir("tokgguf").appendingPathComponent("sp.gguf")
            try w.write(to: url.path)
            return url
        }
        XCTAssertEqual(try BPETokenizer.load(model: try file(pre: nil)).encode("a"), [5])
        XCTAssertEqual(try BPETokenizer.load(model: try file(pre: "default")).encode("a"), [5])
        XCTAssertThrowsError(try BPETokenizer.load(model: try file(pre: "llama-bpe"))) { e in
            guard case .invalid(_, let detail)? = e as? TokenizerError else { return XCTFail("\(e)") }
            XCTAssertTrue(detail.contains("tokenizer.ggml.pre is 'llama-bpe'"), detail)
        }
    }
}

/// Checks on the shipped SmolLM2-135M tokenizer (skipped when `make setup` has not run).
final class SmolLM2TokenizerTests: XCTestCase {
    /// Loaded once for all tests of this class (debug builds parse 49k tokens slowly).
    private static let loaded: Result<BPETokenizer, Error>? = {
        guard FileManager.default.fileExists(atPath: Paths.defaultModel.path) else { return nil }
        return Result { try BPETokenizer.load(model: Paths.defaultModel) }
    }()

    private func smol(_ pre: PreTokenizer? = nil) throws -> BPETokenizer {
        guard let r = SmolLM2TokenizerTests.loaded else { throw XCTSkip("shipped model not installed (run make setup)") }
        let t = try r.get()
        return pre.map { t.with(preTokenizer: $0) } ?? t
    }

    func testWikiText2TokenCounts() throws {
        // Counts given by the issue (measured by an independent implementation).
        let text = try EvalDataset.wikitext2.text()
        let t = try smol()
        XCTAssertEqual(t.preTokenizer, .smollm)
        XCTAssertEqual(t.vocabSize, 49152)
        let ids = try t.encode(text)
        XCTAssertEqual(ids.count, 304_978)
        XCTAssertEqual(t.droppedByteCount(in: text), 0)
        XCTAssertEqual(t.decode(ids), text)
        XCTAssertEqual(try smol(.gpt2).encode(text).count, 304_986)
    }

    func testPTBRoundTripAndRandomText() throws {
        let t = try smol()
        if FileManager.default.fileExists(atPath: EvalDataset.ptb.url.path) {
            let ptb = try EvalDataset.ptb.text()
            XCTAssertEqual(try t.decode(t.encode(ptb)), ptb)
        }
        var rng = RandomText(seed: 99)
        for _ in 0..<300 {
            let s = rng.string(maxScalars: 50, anyScalar: true)
            if t.droppedByteCount(in: s) == 0 { XCTAssertEqual(try t.decode(t.encode(s)), s) }
        }
        // Hand-checkable facts of this vocabulary: a single digit is one token whose string is the digit.
        XCTAssertEqual(try t.encode("7"), [t.id(of: "7")!])
        XCTAssertEqual(try t.encode(" 42"), [t.id(of: "Ġ")!, t.id(of: "4")!, t.id(of: "2")!])
    }
}
