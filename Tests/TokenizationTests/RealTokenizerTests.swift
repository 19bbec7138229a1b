import XCTest
import Foundation
import ModelIO
import Support
import TestSupport
@testable import Tokenization

/// Real tokenizer files (installed by `make setup` into .cache/pip) against ids from the
/// reference libraries (Fixtures/*.json, written by Fixtures/make_fixtures.py; see there).
/// The WikiText-2 / PTB hashes in the fixtures are checked by Tests/smoke.sh (release build).
final class RealTokenizerTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable { let text: String; let ids: [Int32] }
        let file: String
        let texts: [Case]
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    private func check(_ fixture: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent(fixture)))
        let url = Paths.root.appendingPathComponent(f.file)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(url.path) is absent; run 'make setup' (installs the tokenizer packages)")
        }
        let tok = try BPETokenizer.load(model: url)
        for c in f.texts {
            XCTAssertEqual(try tok.encode(c.text), c.ids, "text \(c.text.debugDescription)", file: file, line: line)
        }
    }

    func testLlama3TokenizerJSONMatchesHFTokenizers() throws { try check("llama3.json") }

    func testMistralV1SentencePieceMatchesSentencepiece() throws { try check("mistral-v1-sentencepiece.json") }

    /// Qwen2's NFC normalizer and Split pattern (every \p{N} alone) on the Llama-3
    /// vocabulary, against `tokenizers` on the same edited file.
    func testQwen2StyleNFCAndSplitMatchHFTokenizers() throws {
        let fx = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("llama3-qwen2-style.json"))) as! [String: Any]
        let url = Paths.root.appendingPathComponent(fx["file"] as! String)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(url.path) is absent; run 'make setup' (installs the tokenizer packages)")
        }
        var root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        root["normalizer"] = fx["normalizer"]
        root["pre_tokenizer"] = fx["pre_tokenizer"]
        let out = makeTempDir("tokqwen").appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: root).write(to: out)
        let tok = try BPETokenizer.load(model: out)
        XCTAssertEqual(tok.preTokenizerName, "NFC+Split(Isolated)+ByteLevel")
        for c in fx["texts"] as! [[String: Any]] {
            let t = c["text"] as! String
            XCTAssertEqual(try tok.encode(t), (c["ids"] as! [Int]).map { Int32($0) }, "text \(t.debugDescription)")
        }
    }

    /// The Mistral v1 model as `transformers`' LlamaConverter writes it to tokenizer.json
    /// (vocabulary, merges from `generate_merges`), with the Llama-2 hub normalizers
    /// `Sequence[Prepend, Replace]` and with the newer `Metaspace` pre-tokenizer, against
    /// `tokenizers` ids (which differ from sentencepiece's on special tokens in the text
    /// and, for Metaspace, on leading spaces).
    func testSentencePieceStyleTokenizerJSONMatchesHFTokenizers() throws {
        for name in ["mistral-v1-hf-prepend.json", "mistral-v1-hf-metaspace.json"] {
            let fx = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent(name))) as! [String: Any]
            let url = Paths.root.appendingPathComponent(fx["file"] as! String)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw XCTSkip("\(url.path) is absent; run 'make setup' (installs the tokenizer packages)")
            }
            let sp = try SentencePieceModel(modelFile: url)
            // generate_merges(vocab, vocab_scores): every split of every piece into two pieces,
            // per piece ordered by (id left, id right), then all sorted by (score, len left,
            // len right) descending, stably; the first three pieces score 0.
            let scalars = sp.pieces.map { Array($0.unicodeScalars) }
            var idOf: [String: Int] = [:]
            for (i, p) in sp.pieces.enumerated() { idOf[p] = i }
            var merges: [(l: String, r: String, score: Float, ll: Int, lr: Int, order: Int)] = []
            for (i, p) in scalars.enumerated() where p.count > 1 {
                var local: [(Int, Int, String, String)] = []
                for k in 1..<p.count {
                    var l = String.UnicodeScalarView(), r = String.UnicodeScalarView()
                    l.append(contentsOf: p[..<k]); r.append(contentsOf: p[k...])
                    let ls = String(l), rs = String(r)
                    if let li = idOf[ls], let ri = idOf[rs] { local.append((li, ri, ls, rs)) }
                }
                local.sort { ($0.0, $0.1) < ($1.0, $1.1) }
                for m in local {
                    merges.append((m.2, m.3, i < 3 ? 0 : sp.scores[i], m.2.unicodeScalars.count, m.3.unicodeScalars.count, merges.count))
                }
            }
            merges.sort { a, b in
                if a.score != b.score { return a.score > b.score }
                if a.ll != b.ll { return a.ll > b.ll }
                if a.lr != b.lr { return a.lr > b.lr }
                return a.order < b.order
            }
            let text = merges.map { $0.l + " " + $0.r }.joined(separator: "\n")
            XCTAssertEqual(merges.count, fx["merges_count"] as? Int)
            XCTAssertEqual(SHA256.hex(of: Array(text.utf8)), fx["merges_sha256"] as? String, "merges differ from the converter's")

            var model = fx["model"] as! [String: Any]
            var vocab: [String: Int] = [:]
            for (i, p) in sp.pieces.enumerated() { vocab[p] = i }
            model["vocab"] = vocab
            model["merges"] = merges.map { [$0.l, $0.r] }
            let root: [String: Any] = ["version": "1.0", "normalizer": fx["normalizer"] ?? NSNull(),
                                       "pre_tokenizer": fx["pre_tokenizer"] ?? NSNull(),
                                       "added_tokens": fx["added_tokens"] ?? [], "model": model]
            let out = makeTempDir("tokhf").appendingPathComponent("tokenizer.json")
            try JSONSerialization.data(withJSONObject: root).write(to: out)
            let tok = try BPETokenizer.load(model: out)
            for c in fx["texts"] as! [[String: Any]] {
                let t = c["text"] as! String
                XCTAssertEqual(try tok.encode(t), (c["ids"] as! [Int]).map { Int32($0) }, "\(name): text \(t.debugDescription)")
            }
        }
    }

    /// Llama-3's tokenizer.json converted the way llama.cpp's converter writes a byte-level GGUF
    /// vocabulary (`tokenizer.ggml.model` gpt2; tokens by id, added tokens included; merges as
    /// "left right"; no regex: only the `tokenizer.ggml.pre` name) gives the `tokenizers` ids of
    /// the fixtures: pre `llama-bpe` those of the file itself, pre `qwen2` those of the file with
    /// Qwen2's NFC normalizer and Split pattern. Texts with special tokens are left out: GGUF
    /// vocabularies never match them in the text (`tokenizers` does).
    func testGGUFByteLevelVocabulariesMatchHFTokenizers() throws {
        let fx = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("llama3.json")))
        let url = Paths.root.appendingPathComponent(fx.file)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(url.path) is absent; run 'make setup' (installs the tokenizer packages)")
        }
        // the converter (gguf-py's writer fed from tokenizer.json, as convert_hf_to_gguf.py does)
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let model = root["model"] as! [String: Any]
        var byID: [Int: String] = [:]
        for (t, id) in model["vocab"] as! [String: Any] { byID[(id as! NSNumber).intValue] = t }
        for a in root["added_tokens"] as! [[String: Any]] { byID[(a["id"] as! NSNumber).intValue] = (a["content"] as! String) }
        let count = byID.keys.max()! + 1
        XCTAssertEqual(count, 128_256)
        let tokens = (0..<count).map { byID[$0] ?? "[PAD\($0)]" }
        let merges = (model["merges"] as! [Any]).map { ($0 as? String) ?? ($0 as! [String]).joined(separator: " ") }
        for (pre, fixture) in [("llama-bpe", "llama3.json"), ("qwen2", "llama3-qwen2-style.json")] {
            var w = GGUFWriter()
            w.set("general.architecture", .string("llama"))
            w.set("tokenizer.ggml.model", .string("gpt2"))
            w.set("tokenizer.ggml.pre", .string(pre))
            w.set("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) }))
            w.set("tokenizer.ggml.merges", .array(.string, merges.map { .string($0) }))
            w.set("tokenizer.ggml.bos_token_id", .uint32(128_000))
            w.set("tokenizer.ggml.eos_token_id", .uint32(128_001))
            let path = makeTempDir("tokgguf3").appendingPathComponent("vocab.gguf")
            try w.write(to: path.path)
            let tok = try BPETokenizer.load(model: path)
            XCTAssertEqual(tok.bosTokenID, 128_000)
            let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent(fixture)))
            var checked = 0
            for c in f.texts where !c.text.contains("<|") {
                XCTAssertEqual(try tok.encode(c.text), c.ids, "\(pre): text \(c.text.debugDescription)")
                checked += 1
            }
            XCTAssertGreaterThanOrEqual(checked, 20)
        }
    }

    /// The Mistral v1 vocabulary stored the way llama.cpp's converter writes a `llama` GGUF
    /// vocabulary (tokens, scores, token_type, special ids; metadata only) gives the
    /// `sentencepiece` ids too.
    func testGGUFLlamaVocabularyMatchesSentencepiece() throws {
        let fx = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("mistral-v1-sentencepiece.json")))
        let url = Paths.root.appendingPathComponent(fx.file)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(url.path) is absent; run 'make setup' (installs the tokenizer packages)")
        }
        let sp = try SentencePieceModel(modelFile: url)
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("tokenizer.ggml.model", .string("llama"))
        w.set("tokenizer.ggml.tokens", .array(.string, sp.pieces.map { .string($0) }))
        w.set("tokenizer.ggml.scores", .array(.float32, sp.scores.map { .float32($0) }))
        w.set("tokenizer.ggml.token_type", .array(.int32, sp.types.map { .int32(Int32($0.rawValue)) }))
        w.set("tokenizer.ggml.bos_token_id", .uint32(1))
        w.set("tokenizer.ggml.eos_token_id", .uint32(2))
        w.set("tokenizer.ggml.unknown_token_id", .uint32(0))
        let path = makeTempDir("tokgguf").appendingPathComponent("mistral-vocab.gguf")
        try w.write(to: path.path)
        let tok = try BPETokenizer.load(model: path)
        XCTAssertEqual(tok.bosTokenID, 1)
        for c in fx.texts {
            XCTAssertEqual(try tok.encode(c.text), c.ids, "text \(c.text.debugDescription)")
        }
    }
}

/// The regex step budget: hostile patterns stop with a typed error, real ones stay far below it.
final class RegexBudgetTests: XCTestCase {
    /// Nested quantifiers backtrack exponentially on a near-match (2^40 paths here): the search
    /// stops at its budget with an error naming the pattern, in well under a second.
    func testCatastrophicBacktrackingIsATypedErrorNotAHang() throws {
        for pattern in ["(a+)+b", "(?:a|aa)+c", "(\\p{L}+)+!", "(?:a+a+)+b"] {
            let r = try Regex(pattern, source: "test.json pre_tokenizer.pattern.Regex")
            let t0 = monotonicSeconds()
            XCTAssertThrowsError(try r.matches(in: String(repeating: "a", count: 40))) { e in
                guard case .regexStepBudget(let p, let src, let steps, let n)? = e as? TokenizerError else { return XCTFail("\(e)") }
                XCTAssertEqual(p, pattern); XCTAssertEqual(src, "test.json pre_tokenizer.pattern.Regex")
                XCTAssertEqual(n, 40); XCTAssertEqual(steps, r.stepsPerScalar * 41)
                XCTAssertTrue("\(e)".contains("regex '\(pattern)'"), "\(e)")
            }
            XCTAssertLessThan(monotonicSeconds() - t0, 2.0, pattern)
            // the same patterns on inputs where they do not backtrack are fine
            XCTAssertNoThrow(try r.matches(in: "xyz"))
        }
        XCTAssertEqual(try Regex("(a+)+b", source: "t").matches(in: "aaab"), ["aaab"])
    }

    /// Through a tokenizer.json: encoding with a hostile Split pattern throws the typed error.
    func testHostileSplitPatternInATokenizerJSONFailsEncoding() throws {
        var root = try JSONSerialization.jsonObject(with: Data(TokenizerFuzzTests.tokenizerJSON())) as! [String: Any]
        root["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
            ["type": "Split", "pattern": ["Regex": "(h+)+x"], "behavior": "Isolated", "invert": false],
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false]]]
        let url = makeTempDir("tokregex").appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: root).write(to: url)
        let tok = try BPETokenizer.load(model: url)
        XCTAssertEqual(try tok.encode("hello"), [259])
        XCTAssertThrowsError(try tok.encode(String(repeating: "h", count: 48))) { e in
            guard case .regexStepBudget(let p, _, _, _)? = e as? TokenizerError else { return XCTFail("\(e)") }
            XCTAssertEqual(p, "(h+)+x")
        }
    }

    /// Steps per scalar of the real patterns on a prefix of WikiText-2 test (whole text as one
    /// search, as the first Split step sees it, and line by line, where short inputs weigh the
    /// per-attempt overhead most): far below the budget. `MXQ_REGEX_MEASURE=1` measures the
    /// whole text and prints the numbers (README).
    func testRealPatternsStayFarBelowTheBudget() throws {
        let full = try EvalDataset.wikitext2.text()
        let all = ProcessInfo.processInfo.environment["MXQ_REGEX_MEASURE"] == "1"
        let text = all ? full : String(full.unicodeScalars.prefix(100_000))
        for (name, pattern) in [("llama3", SplitPipeline.llama3Pattern), ("qwen2", SplitPipeline.qwen2Pattern),
                                ("gpt2", SplitPipeline.gpt2Pattern)] {
            let r = try Regex(pattern, source: name)
            let n = text.unicodeScalars.count
            let whole = try r.matchesAndSteps(in: text).steps
            var worstLine = 0.0, worst = ""
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                let l = String(line)
                let ratio = Double(try r.matchesAndSteps(in: l).steps) / Double(l.unicodeScalars.count + 1)
                if ratio > worstLine { worstLine = ratio; worst = String(l.prefix(40)) }
            }
            // ordinary but unfriendly inputs: one-scalar pieces, whitespace runs, contractions, marks
            for odd in [String(repeating: " \n", count: 2000), String(repeating: ". ", count: 2000), String(repeating: "'S", count: 2000),
                        String(repeating: "1", count: 4000), String(repeating: "a\u{300}", count: 2000), String(repeating: " ", count: 4000) + "x",
                        String(repeating: "\r\n \t", count: 1000)] {
                let ratio = Double(try r.matchesAndSteps(in: odd).steps) / Double(odd.unicodeScalars.count + 1)
                if ratio > worstLine { worstLine = ratio; worst = String(odd.prefix(12)) }
            }
            let wholeRatio = Double(whole) / Double(n + 1)
            print(String(format: "regex budget %@: %d scalars, %.2f steps/scalar (whole text), worst line or odd input %.2f steps/scalar (%@); budget %d steps/scalar",
                         name, n, wholeRatio, worstLine, worst.debugDescription, r.stepsPerScalar))
            XCTAssertLessThan(wholeRatio * 100, Double(r.stepsPerScalar), name)
            XCTAssertLessThan(worstLine * 20, Double(r.stepsPerScalar), name)
        }
    }
}

/// The regex engine on hand-derived cases (Oniguruma semantics).
final class RegexTests: XCTestCase {
    let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    func testLlama3Pattern() throws {
        let r = try Regex(llama3, source: "test")
        // contractions are case-insensitive; a letter run takes one leading non-letter non-digit
        XCTAssertEqual(try r.matches(in: "I'M he'LL"), ["I", "'M", " he", "'LL"])
        // digits in groups of three, left to right
        XCTAssertEqual(try r.matches(in: "1234567"), ["123", "456", "7"])
        // "\s+(?!\S)": a run of spaces before a word leaves its last space to the word
        XCTAssertEqual(try r.matches(in: "a   b"), ["a", "  ", " b"])
        // newlines: "\s*[\r\n]+" takes the spaces and the newlines
        XCTAssertEqual(try r.matches(in: "x  \n\ny"), ["x", "  \n\n", "y"])
        // punctuation keeps trailing newlines
        XCTAssertEqual(try r.matches(in: "!!\n\nz"), ["!!\n\n", "z"])
        // non-ASCII letters and digits are \p{L} / \p{N}
        XCTAssertEqual(try r.matches(in: "日本²³"), ["日本", "²³"])
    }

    func testQuantifiersAndClasses() throws {
        XCTAssertEqual(try Regex("a{2,3}", source: "t").matches(in: "aaaaaaa"), ["aaa", "aaa"])
        XCTAssertEqual(try Regex("a+?", source: "t").matches(in: "aa"), ["a", "a"])
        XCTAssertEqual(try Regex("[a-c]+|\\d", source: "t").matches(in: "abcd12"), ["abc", "1", "2"])
        XCTAssertEqual(try Regex("[^\\s]+", source: "t").matches(in: "ab cd"), ["ab", "cd"])
        XCTAssertEqual(try Regex("\\p{Lu}\\p{Ll}*", source: "t").matches(in: "HelloWorld"), ["Hello", "World"])
        XCTAssertEqual(try Regex("(?:ab)+", source: "t").matches(in: "ababa"), ["abab"])
        XCTAssertEqual(try Regex("x(?=y)", source: "t").matches(in: "xyxz"), ["x"])
    }

    func testUnsupportedSyntaxIsATypedError() {
        for p in ["(?<=a)b", "a++", "(a*)*", "\\p{Nope}", "[a-", "(ab", "\\1"] {
            XCTAssertThrowsError(try Regex(p, source: "t"), p) { e in XCTAssertTrue(e is TokenizerError, "\(p): \(e)") }
        }
    }
}

/// SentencePiece BPE on a tiny hand-made model.
final class SentencePieceTests: XCTestCase {
    func testMergesByScoreWithByteFallback() throws {
        var pieces = ["<unk>", "<s>", "</s>"] + (0..<256).map { String(format: "<0x%02X>", $0) }
        var types: [SentencePieceModel.PieceType] = [.unknown, .control, .control] + Array(repeating: .byte, count: 256)
        var scores = [Float](repeating: 0, count: pieces.count)
        for (p, s) in [("▁", -1), ("a", -2), ("b", -3), ("ab", -4), ("▁a", -5), ("▁ab", -6)] as [(String, Float)] {
            pieces.append(p); types.append(.normal); scores.append(s)
        }
        let sp = try SentencePieceModel(pieces: pieces, scores: scores, types: types, addDummyPrefix: true,
                                        removeExtraWhitespaces: false, escapeWhitespaces: true, byteFallback: true,
                                        unkID: 0, bosID: 1, eosID: 2, name: "sentencepiece", source: "test")
        let id = { (p: String) in Int32(pieces.firstIndex(of: p)!) }
        // "▁ab": "ab" (-4) merges before "▁a" (-5); then "▁ab" (-6).
        XCTAssertEqual(try sp.encode("ab"), [id("▁ab")])
        // two spaces: "▁▁ab" has no "▁▁" piece; "c" is not a piece → byte <0x63>
        XCTAssertEqual(try sp.encode(" ab c"), [id("▁"), id("▁ab"), id("▁"), id("<0x63>")])
        XCTAssertEqual(try sp.encode(""), [])
        // special pieces are never matched in the text
        XCTAssertEqual(try sp.encode("<s>").count, 4)
    }
}

/// Damaged SentencePiece files: a typed error (or, when the damage happens to leave a valid
/// model, a tokenizer), never a trap.
final class SentencePieceDamageTests: XCTestCase {
    func testTruncatedAndCorruptedModelsAreTypedErrors() throws {
        let url = Paths.root.appendingPathComponent(".cache/pip/mistral_common/data/tokenizer.model.v1")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(url.path) is absent; run 'make setup' (installs the tokenizer packages)")
        }
        let good = [UInt8](try Data(contentsOf: url))
        let dir = makeTempDir("tokspdamage")
        var rng = SplitMix64(seed: 14)
        var variants: [[UInt8]] = [[], Array(good.prefix(1)), Array(good.prefix(7)), Array(good.prefix(good.count / 2)),
                                   Array(good.dropLast(3)), Array("GGUF not really".utf8)]
        for _ in 0..<6 {
            var b = good
            for _ in 0..<8 { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            variants.append(b)
        }
        for (i, v) in variants.enumerated() {
            let f = dir.appendingPathComponent("tokenizer.model.\(i)")
            try Data(v).write(to: f)
            do { _ = try SentencePieceModel(modelFile: f) } catch { XCTAssertTrue(error is TokenizerError, "variant \(i): \(error)") }
        }
    }
}
