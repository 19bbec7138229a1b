import XCTest
@testable import Tokenization

final class ByteLevelTests: XCTestCase {
    func testAlphabetFixedPoints() {
        // From the GPT-2 rule: printable bytes are themselves; 0x00 is the first remapped byte
        // (U+0100), space 0x20 is the 33rd (U+0120 'Ġ'), 0x7F the 34th (U+0121), 0xAD the last (U+0143).
        XCTAssertEqual(ByteLevel.scalarOfByte[0x61], "a")
        XCTAssertEqual(ByteLevel.scalarOfByte[0xFF], "ÿ")
        XCTAssertEqual(ByteLevel.scalarOfByte[0x00].value, 0x100)
        XCTAssertEqual(ByteLevel.scalarOfByte[0x0A].value, 0x10A)   // 'Ċ'
        XCTAssertEqual(ByteLevel.scalarOfByte[0x20].value, 0x120)   // 'Ġ'
        XCTAssertEqual(ByteLevel.scalarOfByte[0x7F].value, 0x121)
        XCTAssertEqual(ByteLevel.scalarOfByte[0xA0].value, 0x142)
        XCTAssertEqual(ByteLevel.scalarOfByte[0xAD].value, 0x143)
        XCTAssertEqual(Set(ByteLevel.scalarOfByte.map(\.value)).count, 256)
        for b in 0..<256 { XCTAssertEqual(ByteLevel.byteOfScalar[ByteLevel.scalarOfByte[b].value], UInt8(b)) }
    }
}

final class PreTokenizerTests: XCTestCase {
    private func pieces(_ text: String, _ pre: String) throws -> [String] {
        try helloTokenizer(pre).preTokenize(text)
    }

    func testGPT2PatternHandChecked() throws {
        // Expected pieces derived by hand from the pattern (see PreTokenizer.swift).
        let cases: [(String, [String])] = [
            ("Hello world", ["Hello", " world"]),
            ("I'm here", ["I", "'m", " here"]),
            ("don't they'll we've you're he'd", ["don", "'t", " they", "'ll", " we", "'ve", " you", "'re", " he", "'d"]),
            ("HE'S", ["HE", "'", "S"]),                  // contractions are lowercase only
            ("'''s", ["'''", "s"]),                      // a punctuation run, then the letter
            ("a  b", ["a", " ", " b"]),
            ("a\n\nb", ["a", "\n", "\n", "b"]),
            ("a   ", ["a", "   "]),
            ("\t x", ["\t", " x"]),
            (" ,.! ok", [" ,.!", " ok"]),
            ("x 123 y", ["x", " 123", " y"]),
            ("abc123def", ["abc", "123", "def"]),
            ("naïve café", ["naïve", " café"]),
            ("Ⅻ½", ["Ⅻ½"]),                             // Nl and No are both \p{N}
            ("a\u{A0}b", ["a", "\u{A0}", "b"]),          // NBSP is \s but not the optional U+0020
            ("a \u{3000}b", ["a", " ", "\u{3000}", "b"]),
            ("", []),
            (" ", [" "]),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(try pieces(text, "gpt2"), expected, "text \(text.debugDescription)")
        }
    }

    func testSmolLMSplitsEveryDigit() throws {
        let cases: [(String, [String])] = [
            ("x 123 y", ["x", " ", "1", "2", "3", " y"]),
            ("abc123def", ["abc", "1", "2", "3", "def"]),
            ("Ⅻ½", ["Ⅻ", "½"]),
            ("in 2000 .", ["in", " ", "2", "0", "0", "0", " ."]),
            ("a  1", ["a", "  ", "1"]),                  // the lookahead stops at the digit
            ("no digits here", ["no", " digits", " here"]),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(try pieces(text, "smollm"), expected, "text \(text.debugDescription)")
        }
    }

    func testPiecesTileTheText() throws {
        var rng = RandomText(seed: 7)
        for pre in ["gpt2", "smollm"] {
            for _ in 0..<300 {
                let s = rng.string(maxScalars: 40, anyScalar: true)
                XCTAssertEqual(try pieces(s, pre).joined(), s)
            }
        }
    }

    func testUnknownPreTokenizerIsAnError() {
        XCTAssertThrowsError(try BPETokenizer(tokens: byteTokens(), merges: [], preTokenizer: "llama3")) { e in
            XCTAssertEqual(e as? TokenizerError, .unknownPreTokenizer(name: "llama3", source: "<memory>"))
        }
        XCTAssertThrowsError(try PreTokenizer(name: "", source: "x"))
        XCTAssertEqual(try PreTokenizer(name: "smollm", source: "x"), .smollm)
        XCTAssertEqual(try PreTokenizer(name: "gpt2", source: "x"), .gpt2)
    }
}

final class BPETests: XCTestCase {
    func testHandCheckedEncodings() throws {
        let t = try helloTokenizer()
        XCTAssertEqual(t.vocabSize, 265)
        // "hello": he(0) ll(1) hell(2) hello(3) → 259; " world": Ġw(4) or(5) Ġwor(6) ld(7) Ġworld(8) → 264.
        XCTAssertEqual(try t.encode("hello world"), [259, 264])
        // "hell" alone: he, ll, hell → 258. "low": no merge of l-o or o-w → bytes 108 111 119.
        XCTAssertEqual(try t.encode("hell low"), [258, 32, 108, 111, 119])
        // " wor" → Ġwor; "ld!" → ld, '!' is its own piece (33).
        XCTAssertEqual(try t.encode(" wor ld!"), [262, 32, 263, 33])
        // Two spaces before a word: " " then " world".
        XCTAssertEqual(try t.encode("hello  world"), [259, 32, 264])
        XCTAssertEqual(t.decode([259, 32, 264]), "hello  world")
        XCTAssertEqual(try t.encode(""), [])
    }

    func testLowestRankFirstThenLeftmost() throws {
        // Rank beats position: "b c" (rank 0) applies before "a b" (rank 1) in "abc".
        let m1 = ["b c", "a b"]
        let t1 = try BPETokenizer(tokens: tinyVocab(m1), merges: m1, preTokenizer: "gpt2")
        XCTAssertEqual(try t1.encode("abc"), [97, 256])
        XCTAssertEqual(try t1.encode("ab"), [257])
        // Equal rank: leftmost first, so "aaa" → [aa, a], and "aaaa" → [aa, aa] → [aaaa].
        let m2 = ["a a", "aa aa"]
        let t2 = try BPETokenizer(tokens: tinyVocab(m2), merges: m2, preTokenizer: "gpt2")
        XCTAssertEqual(try t2.encode("aaa"), [256, 97])
        XCTAssertEqual(try t2.encode("aaaa"), [257])
        XCTAssertEqual(try t2.encode("aaaaa"), [257, 97])
    }

    func testDigitSplitChangesEncoding() throws {
        // Merges "1 2" (id 256) and "Ġ 1" (id 257). gpt2 keeps " 12" as one piece, bytes Ġ 1 2:
        // (1,2) has rank 0 < rank 1 of (Ġ,1) → [Ġ, 12] = [32, 256].
        // smollm makes the pieces " ", "1", "2" → [32, 49, 50]; merges never cross pieces.
        let m = ["1 2", "Ġ 1"]
        let g = try BPETokenizer(tokens: tinyVocab(m), merges: m, preTokenizer: "gpt2")
        let s = try BPETokenizer(tokens: tinyVocab(m), merges: m, preTokenizer: "smollm")
        XCTAssertEqual(try g.encode("x 12"), [120, 32, 256])
        XCTAssertEqual(try s.encode("x 12"), [120, 32, 49, 50])
        XCTAssertEqual(try g.encode(" 1"), [257])
        XCTAssertEqual(try s.encode(" 1"), [32, 49])
        XCTAssertEqual(try g.decode(g.encode("x 12")), "x 12")
        XCTAssertEqual(try s.decode(s.encode("x 12")), "x 12")
    }

    func testHeapBPEMatchesReference() throws {
        // Random BPE vocabularies over a 4-letter alphabet (merges sampled like BPE training:
        // a pair of existing tokens whose concatenation is new), random words; both BPEs agree.
        var rng = RandomText(seed: 42)
        for trial in 0..<20 {
            var vocab = Set(["a", "b", "c", "d"])
            var tokens = ["a", "b", "c", "d"]
            var merges: [String] = []
            while merges.count < 40 {
                let l = tokens[rng.int(tokens.count)], r = tokens[rng.int(tokens.count)]
                if l.count + r.count > 6 || vocab.contains(l + r) { continue }
                vocab.insert(l + r); tokens.append(l + r); merges.append("\(l) \(r)")
            }
            let t = try BPETokenizer(tokens: byteTokens() + tokens.dropFirst(4), merges: merges, preTokenizer: "gpt2")
            for _ in 0..<200 {
                let word = (0..<(1 + rng.int(24))).map { _ in UInt8(97 + rng.int(4)) }
                XCTAssertEqual(t.bpe(word), t.bpeReference(word), "trial \(trial) word \(String(decoding: word, as: UTF8.self))")
            }
        }
    }

    func testRoundTripRandomUnicode() throws {
        var rng = RandomText(seed: 2024)
        for pre in ["gpt2", "smollm"] {
            let t = try helloTokenizer(pre)
            for _ in 0..<400 {
                let s = rng.string(maxScalars: 60, anyScalar: true)
                XCTAssertEqual(try t.decode(t.encode(s)), s)
                XCTAssertEqual(t.droppedByteCount(in: s), 0)
            }
        }
    }

    func testBytesWithoutTokenAreDropped() throws {
        // Vocabulary without byte 0x04: it is skipped before merging (HF tokenizers without
        // unk_token), so the punctuation piece "!\u{4}?" with merge "! ?" becomes "!?" (256).
        // In "a\u{4}b" the control byte is a piece of its own between "a" and "b".
        var toks = tinyVocab(["! ?"])
        toks[4] = "<unused4>"
        let t = try BPETokenizer(tokens: toks, merges: ["! ?"], preTokenizer: "gpt2")
        XCTAssertEqual(t.droppedByteCount(in: "a\u{4}b\u{4}"), 2)
        XCTAssertEqual(try t.encode("!\u{4}?"), [256])
        XCTAssertEqual(try t.encode("a\u{4}b"), [97, 98])
        XCTAssertEqual(try t.encode("\u{4}"), [])
    }

    func testMalformedInputsAreErrors() {
        let v = tinyVocab(["a b"])
        for bad in ["ab", "a  b", " a", "a b c"] {
            XCTAssertThrowsError(try BPETokenizer(tokens: v, merges: [bad], preTokenizer: "gpt2"), bad)
        }
        // Merge naming an unknown token, and a merge whose result is not a token.
        XCTAssertThrowsError(try BPETokenizer(tokens: v, merges: ["a zz"], preTokenizer: "gpt2"))
        XCTAssertThrowsError(try BPETokenizer(tokens: byteTokens(), merges: ["a b"], preTokenizer: "gpt2")) { e in
            XCTAssertTrue("\(e)".contains("merge #0"), "\(e)")
        }
        // Not a byte-level vocabulary (no 'Ġ' for the space byte).
        var noSpace = byteTokens(); noSpace[32] = " "
        XCTAssertThrowsError(try BPETokenizer(tokens: noSpace, merges: [], preTokenizer: "gpt2"))
        XCTAssertThrowsError(try BPETokenizer(tokens: byteTokens(), merges: [], preTokenizer: "gpt2", bosTokenID: 256))
    }
}
