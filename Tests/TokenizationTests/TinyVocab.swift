import Foundation
@testable import Tokenization

/// The 256 byte tokens in byte order, so that the id of a single byte is the byte's value
/// ('a' = 97, ' ' = 32 written 'Ġ', '\n' = 10 written 'Ċ').
func byteTokens() -> [String] {
    (0..<256).map { String(ByteLevel.scalarOfByte[$0]) }
}

/// Byte tokens plus the merged tokens of `merges` ("l r" → "lr") appended in merge order,
/// so merge #k produces id 256 + k.
func tinyVocab(_ merges: [String]) -> [String] {
    byteTokens() + merges.map { $0.replacingOccurrences(of: " ", with: "") }
}

/// Merges used by the hand-checked encodings (ids 256...264 in this order).
let helloMerges = [
    "h e",        // 256 he
    "l l",        // 257 ll
    "he ll",      // 258 hell
    "hell o",     // 259 hello
    "Ġ w",        // 260 Ġw
    "o r",        // 261 or
    "Ġw or",      // 262 Ġwor
    "l d",        // 263 ld
    "Ġwor ld",    // 264 Ġworld
]

func helloTokenizer(_ pre: String = "gpt2") throws -> BPETokenizer {
    try BPETokenizer(tokens: tinyVocab(helloMerges), merges: helloMerges, preTokenizer: pre)
}

/// Deterministic random strings over a mix of scalar kinds (ASCII letters, digits,
/// spaces, contractions, punctuation, accents, combining marks, CJK, emoji, other numbers,
/// Unicode whitespace, controls) and, with `anyScalar`, arbitrary scalars of all planes.
struct RandomText {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        // SplitMix64 step (self-contained so tests do not depend on other modules' RNG API).
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    static let pools: [[Unicode.Scalar]] = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "\t\n\r", "'", "stmdrevl",
        ".,;:!?-()[]{}\"@#$%^&*_+=/\\|<>~`", "éüßñçøåÆŒ", "\u{301}\u{308}\u{327}", "中文字符日本語한국어",
        "😀👍🏽🇺🇸❤️", "½²³¼ⅫⅣ٣٤۵०", "\u{A0}\u{2003}\u{3000}\u{85}\u{2028}\u{200B}\u{202F}\u{1680}",
        "\u{0}\u{1}\u{4}\u{1C}\u{1F}\u{7F}", "ǅǈʰʲˠـ\u{FEFF}\u{FFFD}",
    ].map { Array(String($0).unicodeScalars) }

    mutating func string(maxScalars: Int, anyScalar: Bool) -> String {
        var s = String.UnicodeScalarView()
        let n = int(maxScalars + 1)
        while s.count < n {
            if anyScalar && int(4) == 0 {
                var v: UInt32
                repeat { v = UInt32(int(0x110000)) } while (0xD800..<0xE000).contains(v)
                s.append(Unicode.Scalar(v)!)
            } else {
                let p = RandomText.pools[int(RandomText.pools.count)]
                for _ in 0..<(1 + int(3)) { s.append(p[int(p.count)]) }
            }
        }
        return String(s)
    }
}
