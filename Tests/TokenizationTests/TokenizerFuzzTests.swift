import XCTest
import Support
import TestSupport
import ModelIO
@testable import Tokenization

/// Mutation fuzzing of the tokenizer loaders (issue #12 §2): a small valid `tokenizer.json`
/// (ids, merges, added tokens, pre-tokenizer) and a GGUF holding the same tokenizer in its
/// metadata (array counts, string lengths, types, token ids). Every mutant must load (and
/// then encode to ids inside the vocabulary) or give a typed one-line error, fast, within
/// the peak-RSS budget (4× the file size + 1 GB).
final class TokenizerFuzzTests: XCTestCase {
    static let mutantsPerFormat = 2_000

    var dir: URL!
    override func setUp() { dir = fuzzScratchDir("tok-fuzz") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    static let sample = "hello world 42, hello!"

    static func tokenizerJSON() throws -> [UInt8] {
        let toks = tinyVocab(helloMerges)
        var vocab: [String: Int] = [:]
        for (i, t) in toks.enumerated() { vocab[t] = i }
        let root: [String: Any] = [
            "version": "1.0",
            "added_tokens": [["id": toks.count, "content": "<|endoftext|>", "special": true]],
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true, "trim_offsets": true],
            "model": ["type": "BPE", "dropout": NSNull(), "continuing_subword_prefix": "", "end_of_word_suffix": "",
                      "ignore_merges": false, "vocab": vocab, "merges": helloMerges],
        ]
        return Array(try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]))
    }

    /// Loads, encodes a sample and checks the ids are inside the vocabulary.
    static func exercise(_ t: BPETokenizer) throws {
        let ids = try t.encode(sample)
        for id in ids { precondition(id >= 0 && Int(id) < t.vocabSize, "id \(id) outside the vocabulary") }
        _ = t.decode(ids)
    }

    func testTokenizerJSONMutants() throws {
        let base = try Self.tokenizerJSON()
        let url = dir.appendingPathComponent("tokenizer.json")
        FileManager.default.createFile(atPath: url.path, contents: Data(base))
        let t = try BPETokenizer(tokenizerJSON: url)
        XCTAssertEqual(t.vocabSize, 266)
        let (toks, ms) = jsonMutants(of: base, count: Self.mutantsPerFormat, seed: 0x746f_6b6a)
        let hwm0 = peakRSSBytes()
        let t0 = monotonicSeconds()
        let tally = runFuzz(format: "tokenizer.json", count: ms.count, describe: { ms[$0].description }) { i in
            writeFuzzFile(ms[i].apply(to: base, tokens: toks), to: url.path)
            try Self.exercise(try BPETokenizer(tokenizerJSON: url))
        }
        print("tokenizer.json fuzz: \(ms.count) mutants over \(toks.count) tokens of a \(base.count)-byte file in \(String(format: "%.1f", monotonicSeconds() - t0)) s: \(tally)")
        XCTAssertTrue(tally.failures.isEmpty, tally.failures.prefix(20).joined(separator: "\n"))
        if let a = hwm0, let b = peakRSSBytes() { XCTAssertLessThanOrEqual(b - a, 4 * base.count + (1 << 30)) }
    }

    func tokenizerGGUF() -> [UInt8] {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string("gpt2"))
        w.set("tokenizer.ggml.tokens", .array(.string, tinyVocab(helloMerges).map { .string($0) }))
        w.set("tokenizer.ggml.merges", .array(.string, helloMerges.map { .string($0) }))
        w.set("tokenizer.ggml.bos_token_id", .uint32(1))
        w.set("tokenizer.ggml.eos_token_id", .uint32(2))
        w.addTensor("x", shape: [4], values: [1, 2, 3, 4])
        return w.serialized()
    }

    func testGGUFTokenizerMutants() throws {
        let base = tokenizerGGUF()
        let p = dir.appendingPathComponent("t.gguf").path
        FileManager.default.createFile(atPath: p, contents: Data(base))
        try Self.exercise(try BPETokenizer(gguf: try GGUFFile(path: p)))
        let fields = ggufFields(base)
        let ms = binaryMutants(of: base, fields: fields, count: Self.mutantsPerFormat, seed: 0x746f_6b67)
        let hwm0 = peakRSSBytes()
        let t0 = monotonicSeconds()
        let tally = runFuzz(format: "gguf-tokenizer", count: ms.count, describe: { ms[$0].description }) { i in
            writeFuzzFile(ms[i].apply(to: base), to: p)
            try Self.exercise(try BPETokenizer(gguf: try GGUFFile(path: p)))
        }
        print("GGUF tokenizer fuzz: \(ms.count) mutants over \(fields.count) fields in \(String(format: "%.1f", monotonicSeconds() - t0)) s: \(tally)")
        XCTAssertTrue(tally.failures.isEmpty, tally.failures.prefix(20).joined(separator: "\n"))
        if let a = hwm0, let b = peakRSSBytes() { XCTAssertLessThanOrEqual(b - a, 4 * base.count + (1 << 30)) }
    }

    /// A 16 MB tokenizer.json made of 8M tiny values is refused before Foundation's parser
    /// would spend ~500 MB on it. Keys count as values; separators inside strings do not.
    func testTooManyJSONValuesIsRejected() throws {
        XCTAssertEqual(jsonValueCountUpperBound(Data("[1,\"a,b:[{\\\"\",{\"k\":2}]".utf8)), 6)   // [ 1 "…" { "k" 2
        let url = dir.appendingPathComponent("tokenizer.json")
        var s = String(decoding: try Self.tokenizerJSON(), as: UTF8.self)
        s.removeLast()
        s += ",\"padding\":[" + String(repeating: "0,", count: 8 << 20) + "0]}"
        FileManager.default.createFile(atPath: url.path, contents: Data(s.utf8))
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: url)) { e in
            XCTAssertTrue("\(e)".contains("JSON values"), "\(e)")
        }
    }

    /// A vocab id of 2^31 − 2 in a 1 KB file used to allocate 2^31 placeholder tokens.
    func testHugeVocabIDIsRejectedCheaply() throws {
        let url = dir.appendingPathComponent("tokenizer.json")
        var s = String(decoding: try Self.tokenizerJSON(), as: UTF8.self)
        s = s.replacingOccurrences(of: "\"id\":265", with: "\"id\":2147483646")
        FileManager.default.createFile(atPath: url.path, contents: Data(s.utf8))
        let t0 = monotonicSeconds()
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: url)) { e in
            XCTAssertTrue(e is TokenizerError, "\(e)")
            XCTAssertTrue("\(e)".contains("2147483646"), "\(e)")
        }
        XCTAssertLessThan(monotonicSeconds() - t0, 2)
    }
}

/// A tokenizer path that is a FIFO is a typed error, not a blocking read.
final class TokenizerPathTests: XCTestCase {
    func testFIFOTokenizerJSONIsTypedError() throws {
        let dir = makeTempDir("tok-fifo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("tokenizer.json")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let t0 = monotonicSeconds()
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: fifo)) { XCTAssertTrue($0 is TokenizerError, "\($0)") }
        XCTAssertThrowsError(try BPETokenizer.load(model: dir)) { XCTAssertTrue($0 is TokenizerError, "\($0)") }
        XCTAssertLessThan(monotonicSeconds() - t0, 2)
    }
}
