import XCTest
import Foundation
import TestSupport
@testable import Tokenization

final class TokenizerJSONTests: XCTestCase {
    /// Writes a tokenizer.json with the byte tokens plus the hello merges and the given pre_tokenizer.
    private func write(pre: Any, mergesAsPairs: Bool, extra: [String: Any] = [:], config: [String: Any]? = nil) throws -> URL {
        let dir = makeTempDir("tokjson")
        var vocab: [String: Int] = [:]
        for (i, t) in tinyVocab(helloMerges).enumerated() { vocab[t] = i }
        let merges: [Any] = mergesAsPairs ? helloMerges.map { $0.split(separator: " ").map(String.init) } : helloMerges
        var model: [String: Any] = ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(),
                                    "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(),
                                    "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges]
        for (k, v) in extra { model[k] = v }
        let root: [String: Any] = ["version": "1.0", "normalizer": NSNull(), "pre_tokenizer": pre, "model": model,
                                   "added_tokens": [["id": 265, "content": "<|endoftext|>", "special": true]]]
        let url = dir.appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: root).write(to: url)
        if let config {
            try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        }
        return url
    }

    private let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]

    func testByteLevelIsGPT2() throws {
        let t = try BPETokenizer(tokenizerJSON: try write(pre: byteLevel, mergesAsPairs: false))
        XCTAssertEqual(t.preTokenizer, .gpt2)
        XCTAssertEqual(t.vocabSize, 266)
        XCTAssertEqual(try t.encode("hello world 12"), [259, 264, 32, 49, 50])   // " 12" → Ġ 1 2 (no merges)
        XCTAssertEqual(t.decode([265]), "<|endoftext|>")
        XCTAssertNil(t.bosTokenID)
    }

    func testDigitsSequenceIsSmolLMAndPairsParse() throws {
        let pre: [String: Any] = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
        let url = try write(pre: pre, mergesAsPairs: true, config: ["bos_token": "<|endoftext|>", "eos_token": ["content": "<|endoftext|>"]])
        let t = try BPETokenizer(tokenizerJSON: url)
        XCTAssertEqual(t.preTokenizer, .smollm)
        XCTAssertEqual(try t.encode("hello world"), [259, 264])
        XCTAssertEqual(t.bosTokenID, 265)
        XCTAssertEqual(t.eosTokenID, 265)
        // load(model:) accepts the folder and the file; --pre overrides.
        XCTAssertEqual(try BPETokenizer.load(model: url.deletingLastPathComponent()).preTokenizer, .smollm)
        XCTAssertEqual(try BPETokenizer.load(model: url, preTokenizer: "gpt2").preTokenizer, .gpt2)
    }

    func testSplitRegexSequence() throws {
        // Sequence[Split(Llama-3-like digits regex, Isolated), ByteLevel(use_regex: false)]:
        // "hello 123" → "hello", " ", "123" → ids 259 (hello), 32 (space byte Ġ), 49 50 51.
        let split: [String: Any] = ["type": "Split", "pattern": ["Regex": "\\p{L}+|\\p{N}{1,3}"], "behavior": "Isolated", "invert": false]
        let pre: [String: Any] = ["type": "Sequence", "pretokenizers": [split, ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false]]]
        let t = try BPETokenizer(tokenizerJSON: try write(pre: pre, mergesAsPairs: false))
        XCTAssertEqual(t.preTokenizerName, "Split(Isolated)+ByteLevel")
        XCTAssertEqual(try t.preTokenize("hello 1234"), ["hello", " ", "123", "4"])
        // The added token is matched inside the text (HF default).
        XCTAssertEqual(try t.encode("hello<|endoftext|>"), [259, 265])
    }

    func testUnsupportedSettingsAreErrors() throws {
        let whitespace: [String: Any] = ["type": "Sequence", "pretokenizers": [["type": "WhitespaceSplit"], byteLevel]]
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: try write(pre: whitespace, mergesAsPairs: false))) { e in
            guard case .unknownPreTokenizer(let name, _)? = e as? TokenizerError else { return XCTFail("\(e)") }
            XCTAssertTrue(name.contains("WhitespaceSplit"), name)
        }
        // A Split regex the engine does not implement (lookbehind) names the field.
        let lookbehind: [String: Any] = ["type": "Split", "pattern": ["Regex": "(?<=a)b"], "behavior": "Isolated", "invert": false]
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: try write(pre: lookbehind, mergesAsPairs: false))) { e in
            XCTAssertTrue("\(e)".contains("pattern.Regex"), "\(e)")
        }
        let prefixed: [String: Any] = ["type": "ByteLevel", "add_prefix_space": true]
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: try write(pre: prefixed, mergesAsPairs: false)))
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: try write(pre: byteLevel, mergesAsPairs: false,
                                                                       extra: ["end_of_word_suffix": "</w>"])))
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: try write(pre: byteLevel, mergesAsPairs: false,
                                                                       extra: ["type": "WordPiece"])))
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: try write(pre: byteLevel, mergesAsPairs: false,
                                                                       extra: ["merges": ["h e", 3]])))
        let notJSON = makeTempDir("tokjson").appendingPathComponent("tokenizer.json")
        try Data("{".utf8).write(to: notJSON)
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: notJSON))
        XCTAssertThrowsError(try BPETokenizer.load(model: URL(fileURLWithPath: "/nonexistent/model.gguf")))
    }
}

final class DatasetTextTests: XCTestCase {
    func testJoinStrippedLines() {
        // Hand-derived: lines stripped, empty lines skipped, joined with one space; \r\n and \r break lines.
        XCTAssertEqual(joinStrippedLines(" a b \n\n  c\n"), "a b c")
        XCTAssertEqual(joinStrippedLines("x\r\ny\rz"), "x y z")
        XCTAssertEqual(joinStrippedLines(""), "")
        XCTAssertEqual(joinStrippedLines("one"), "one")
    }

    func testDatasetNames() throws {
        XCTAssertEqual(try EvalDataset(parsing: "ptb"), .ptb)
        XCTAssertEqual(try EvalDataset(parsing: "wikitext2"), .wikitext2)
        XCTAssertThrowsError(try EvalDataset(parsing: "c4"))
        XCTAssertThrowsError(try CalibrationSource.file(URL(fileURLWithPath: "/nonexistent.txt")).text())
    }
}
