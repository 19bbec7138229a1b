// A small backtracking regular-expression engine over Unicode scalars, for the
// `Split` pre-tokenizer patterns of tokenizer.json files (Llama-3, Qwen2, ...).
//
// Semantics follow Oniguruma (what Hugging Face `tokenizers` uses): leftmost-first
// alternation, greedy quantifiers (lazy with a trailing `?`), backtracking.
// Supported syntax:
//   literals; `.` (any scalar but \n); escapes \r \n \t \f \v \e \0 \xHH \x{H..} \uHHHH and
//   escaped punctuation; \s \S (White_Space), \d \D (Nd), \w \W (L, M, Nd, Pc);
//   \p{X} \P{X} \pX with X a general category (L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd
//   Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn, L& / LC, long names such as Letter);
//   classes [...] / [^...] with ranges, escapes and properties inside; groups (...), (?:...),
//   (?i:...), (?-i:...), (?i) for the rest of the group; lookahead (?=...) (?!...);
//   quantifiers ? * + {n} {n,} {n,m} and lazy forms; anchors ^ $ \A \z.
// Anything else (back-references, lookbehind, possessive quantifiers, ...) is a typed error.
//
// Case-insensitive matching compares a scalar, its lowercase and its uppercase simple
// mappings (so (?i:'s) also matches "'S" and "'ſ", as Unicode case folding does).
// A quantifier `*`/`+`/`{n,}` over a sub-pattern that can match empty is refused
// (it could loop forever).
//
// Step budget: a backtracking engine takes exponential time on a hostile pattern such as
// `(a+)+b` (and quadratic time on some others), so one search over an input of n scalars
// (`forEachMatch`, all its match attempts and lookaheads together) may execute at most
// `stepsPerScalar · (n + 1)` instructions; beyond that it stops with
// `TokenizerError.regexStepBudget` naming the pattern. `stepsPerScalar` is 32 × the program
// size (at least 2048; 2560 for Llama-3's pattern): a search that visits each (instruction,
// position) pair about once stays far below it. Measured on WikiText-2 test with the Llama-3,
// Qwen2 and GPT-2 patterns: about 7 steps per scalar, at most ~20 on any single line
// (`RegexBudgetTests`). Exponential backtracking hits the budget within milliseconds on short
// inputs; a pattern that is only quadratic on a long input runs up to the budget first.

import Support

/// Bit of each general category in a scalar's property mask; bit 30 = White_Space.
enum ScalarProps {
    static let whitespace: UInt32 = 1 << 30

    static func categoryIndex(_ c: Unicode.GeneralCategory) -> UInt32 {
        switch c {
        case .uppercaseLetter: return 0
        case .lowercaseLetter: return 1
        case .titlecaseLetter: return 2
        case .modifierLetter: return 3
        case .otherLetter: return 4
        case .nonspacingMark: return 5
        case .spacingMark: return 6
        case .enclosingMark: return 7
        case .decimalNumber: return 8
        case .letterNumber: return 9
        case .otherNumber: return 10
        case .connectorPunctuation: return 11
        case .dashPunctuation: return 12
        case .openPunctuation: return 13
        case .closePunctuation: return 14
        case .initialPunctuation: return 15
        case .finalPunctuation: return 16
        case .otherPunctuation: return 17
        case .mathSymbol: return 18
        case .currencySymbol: return 19
        case .modifierSymbol: return 20
        case .otherSymbol: return 21
        case .spaceSeparator: return 22
        case .lineSeparator: return 23
        case .paragraphSeparator: return 24
        case .control: return 25
        case .format: return 26
        case .surrogate: return 27
        case .privateUse: return 28
        case .unassigned: return 29
        @unknown default: return 29
        }
    }

    static func computeMask(_ u: Unicode.Scalar) -> UInt32 {
        let p = u.properties
        return (1 << categoryIndex(p.generalCategory)) | (p.isWhitespace ? whitespace : 0)
    }

    static let asciiMasks: [UInt32] = (0..<128).map { computeMask(Unicode.Scalar(UInt8($0))) }

    @inline(__always)
    static func mask(_ u: Unicode.Scalar) -> UInt32 {
        u.value < 128 ? asciiMasks[Int(u.value)] : computeMask(u)
    }

    static func bits(_ r: ClosedRange<UInt32>) -> UInt32 { r.reduce(0) { $0 | (1 << $1) } }

    /// Mask of a property name as written after \p (nil when unknown).
    static func named(_ name: String) -> UInt32? {
        let table: [String: UInt32] = [
            "L": bits(0...4), "Letter": bits(0...4), "L&": bits(0...2), "LC": bits(0...2),
            "Lu": 1 << 0, "Ll": 1 << 1, "Lt": 1 << 2, "Lm": 1 << 3, "Lo": 1 << 4,
            "M": bits(5...7), "Mark": bits(5...7), "Mn": 1 << 5, "Mc": 1 << 6, "Me": 1 << 7,
            "N": bits(8...10), "Number": bits(8...10), "Nd": 1 << 8, "Nl": 1 << 9, "No": 1 << 10,
            "P": bits(11...17), "Punctuation": bits(11...17), "Pc": 1 << 11, "Pd": 1 << 12, "Ps": 1 << 13,
            "Pe": 1 << 14, "Pi": 1 << 15, "Pf": 1 << 16, "Po": 1 << 17,
            "S": bits(18...21), "Symbol": bits(18...21), "Sm": 1 << 18, "Sc": 1 << 19, "Sk": 1 << 20, "So": 1 << 21,
            "Z": bits(22...24), "Separator": bits(22...24), "Zs": 1 << 22, "Zl": 1 << 23, "Zp": 1 << 24,
            "C": bits(25...29), "Other": bits(25...29), "Cc": 1 << 25, "Cf": 1 << 26, "Cs": 1 << 27, "Co": 1 << 28, "Cn": 1 << 29,
            "White_Space": whitespace, "Space": whitespace,
        ]
        return table[name]
    }
    static let digit: UInt32 = 1 << 8
    static let word: UInt32 = bits(0...8) | (1 << 11)
}

/// A set of scalars: ranges, property masks (any bit set), negated property masks
/// (no bit set, e.g. \S inside a class), optionally negated as a whole and case-insensitive.
struct RegexClass {
    var ranges: [(UInt32, UInt32)] = []
    var anyMask: UInt32 = 0
    var notMasks: [UInt32] = []
    var negated = false
    var caseInsensitive = false
    /// Membership of ASCII scalars, precomputed by `finish()`.
    var ascii: (UInt64, UInt64) = (0, 0)

    private func rawContains(_ v: UInt32, _ mask: UInt32) -> Bool {
        if mask & anyMask != 0 { return true }
        for nm in notMasks where mask & nm == 0 { return true }
        for (a, b) in ranges where v >= a && v <= b { return true }
        return false
    }

    /// Membership without the ASCII table.
    func slowContains(_ u: Unicode.Scalar, mask: UInt32) -> Bool {
        var hit = rawContains(u.value, mask)
        if !hit && caseInsensitive {
            for m in [u.properties.lowercaseMapping, u.properties.uppercaseMapping] {
                let s = m.unicodeScalars
                if s.count == 1, let v = s.first, v != u, rawContains(v.value, ScalarProps.mask(v)) { hit = true; break }
            }
        }
        return hit != negated
    }

    mutating func finish() {
        var lo: UInt64 = 0, hi: UInt64 = 0
        for c in 0..<128 {
            let u = Unicode.Scalar(UInt8(c))
            if slowContains(u, mask: ScalarProps.asciiMasks[c]) {
                if c < 64 { lo |= 1 << UInt64(c) } else { hi |= 1 << UInt64(c - 64) }
            }
        }
        ascii = (lo, hi)
    }

    @inline(__always)
    func contains(_ v: UInt32, mask: UInt32) -> Bool {
        if v < 64 { return ascii.0 & (1 << UInt64(v)) != 0 }
        if v < 128 { return ascii.1 & (1 << UInt64(v - 64)) != 0 }
        return slowContains(Unicode.Scalar(v)!, mask: mask)
    }
}

/// A compiled pattern. Immutable; `firstMatch` may be called from several threads.
public struct Regex: Sendable {
    enum Inst: Sendable {
        case cls(Int)
        case split(Int, Int)    // try the first target, backtrack to the second
        case jmp(Int)
        case look(Int, Bool)    // sub-program index, negated
        case bol, eol, match
    }
    struct Program: Sendable { var code: [Inst] }

    let programs: [Program]     // [0] is the main program; the others are lookaheads
    let classes: [RegexClass]
    public let pattern: String
    /// Where the pattern came from (file and field), for errors.
    public let source: String
    /// Instructions one search may execute per input scalar (see the step budget above).
    public let stepsPerScalar: Int

    indirect enum Node {
        case set(Int)
        case cat([Node])
        case alt([Node])
        case rep(Node, Int, Int?, Bool)   // min, max (nil = unbounded), greedy
        case look(Node, Bool)
        case bol, eol
    }

    /// Compiles `pattern`; throws `TokenizerError.invalid` naming `source` and the position.
    public init(_ pattern: String, source: String) throws {
        var p = Parser(chars: Array(pattern.unicodeScalars), source: source, pattern: pattern)
        let node = try p.parseAlt(ci: false)
        if p.pos < p.chars.count { throw p.error("unbalanced ')'") }
        var progs: [Program] = [Program(code: [])]
        var code: [Inst] = []
        try Regex.emit(node, into: &code, programs: &progs, source: source, pattern: pattern)
        code.append(.match)
        progs[0] = Program(code: code)
        self.programs = progs
        self.classes = p.classes.map { var c = $0; c.finish(); return c }
        self.pattern = pattern
        self.source = source
        self.stepsPerScalar = max(2048, 32 * progs.reduce(0) { $0 + $1.code.count })
    }

    /// The step budget of one search over `scalars` scalars.
    func stepBudget(scalars: Int) -> Int {
        let (p, o) = stepsPerScalar.multipliedReportingOverflow(by: scalars + 1)
        return o ? Int.max : p
    }

    static func nullable(_ n: Node) -> Bool {
        switch n {
        case .set: return false
        case .cat(let xs): return xs.allSatisfy(nullable)
        case .alt(let xs): return xs.contains(where: nullable)
        case .rep(let x, let mn, _, _): return mn == 0 || nullable(x)
        case .look, .bol, .eol: return true
        }
    }

    static func emit(_ n: Node, into code: inout [Inst], programs: inout [Program], source: String, pattern: String) throws {
        switch n {
        case .set(let i): code.append(.cls(i))
        case .bol: code.append(.bol)
        case .eol: code.append(.eol)
        case .cat(let xs): for x in xs { try emit(x, into: &code, programs: &programs, source: source, pattern: pattern) }
        case .alt(let xs):
            var jumps: [Int] = []
            for (k, x) in xs.enumerated() {
                if k < xs.count - 1 {
                    let s = code.count
                    code.append(.split(s + 1, -1))
                    try emit(x, into: &code, programs: &programs, source: source, pattern: pattern)
                    jumps.append(code.count)
                    code.append(.jmp(-1))
                    code[s] = .split(s + 1, code.count)
                } else {
                    try emit(x, into: &code, programs: &programs, source: source, pattern: pattern)
                }
            }
            for j in jumps { code[j] = .jmp(code.count) }
        case .rep(let x, let mn, let mx, let greedy):
            for _ in 0..<mn { try emit(x, into: &code, programs: &programs, source: source, pattern: pattern) }
            if let mx {
                var splits: [Int] = []
                for _ in mn..<max(mn, mx) {
                    splits.append(code.count)
                    code.append(.split(-1, -1))
                    try emit(x, into: &code, programs: &programs, source: source, pattern: pattern)
                }
                let end = code.count
                for s in splits { code[s] = greedy ? .split(s + 1, end) : .split(end, s + 1) }
            } else {
                if nullable(x) {
                    throw TokenizerError.invalid(source: source, detail: "regex '\(pattern)': an unbounded quantifier over a sub-pattern that can match empty is not supported")
                }
                let s = code.count
                code.append(.split(-1, -1))
                try emit(x, into: &code, programs: &programs, source: source, pattern: pattern)
                code.append(.jmp(s))
                code[s] = greedy ? .split(s + 1, code.count) : .split(code.count, s + 1)
            }
        case .look(let x, let neg):
            var sub: [Inst] = []
            try emit(x, into: &sub, programs: &programs, source: source, pattern: pattern)
            sub.append(.match)
            programs.append(Program(code: sub))
            code.append(.look(programs.count - 1, neg))
        }
    }

    struct Parser {
        let chars: [Unicode.Scalar]
        let source: String
        let pattern: String
        var pos = 0
        var classes: [RegexClass] = []

        init(chars: [Unicode.Scalar], source: String, pattern: String) {
            self.chars = chars; self.source = source; self.pattern = pattern
        }

        func error(_ what: String) -> TokenizerError {
            .invalid(source: source, detail: "regex '\(pattern)' at offset \(pos): \(what)")
        }
        var peek: Unicode.Scalar? { pos < chars.count ? chars[pos] : nil }

        mutating func add(_ c: RegexClass) -> Node { classes.append(c); return .set(classes.count - 1) }

        mutating func parseAlt(ci: Bool) throws -> Node {
            var ci = ci
            var alts: [Node] = [try parseCat(ci: &ci)]
            while peek == "|" {
                pos += 1
                alts.append(try parseCat(ci: &ci))
            }
            return alts.count == 1 ? alts[0] : .alt(alts)
        }

        mutating func parseCat(ci: inout Bool) throws -> Node {
            var items: [Node] = []
            while let c = peek, c != "|", c != ")" {
                if c == "(" && pos + 2 < chars.count && chars[pos + 1] == "?" && (chars[pos + 2] == "i" || chars[pos + 2] == "-")
                    && (chars[pos + 2] == "i" ? pos + 3 < chars.count && chars[pos + 3] == ")" : pos + 4 < chars.count && chars[pos + 3] == "i" && chars[pos + 4] == ")") {
                    // (?i) / (?-i): flag for the rest of the enclosing group
                    ci = chars[pos + 2] == "i"
                    pos += ci ? 4 : 5
                    continue
                }
                var atom = try parseAtom(ci: ci)
                atom = try parseQuantifier(atom)
                items.append(atom)
            }
            return items.count == 1 ? items[0] : .cat(items)
        }

        mutating func parseQuantifier(_ atom: Node) throws -> Node {
            var a = atom
            while let c = peek {
                var mn = 0, mx: Int? = nil
                if c == "?" { mx = 1; pos += 1 }
                else if c == "*" { pos += 1 }
                else if c == "+" { mn = 1; pos += 1 }
                else if c == "{", let (lo, hi, len) = braces() { mn = lo; mx = hi; pos += len }
                else { break }
                if let m = mx, m < mn { throw error("quantifier {\(mn),\(m)} has max < min") }
                if mn > 1000 || (mx ?? 0) > 1000 { throw error("quantifier bound above 1000") }
                var greedy = true
                if peek == "?" { greedy = false; pos += 1 }
                else if peek == "+" { throw error("possessive quantifiers are not supported") }
                if case .look = a { throw error("quantifier after a lookahead") }
                a = .rep(a, mn, mx, greedy)
            }
            return a
        }

        /// `{n}`, `{n,}`, `{n,m}` at pos: (min, max, length) or nil (then `{` is a literal).
        func braces() -> (Int, Int?, Int)? {
            var i = pos + 1
            func num() -> Int? {
                var v = 0, any = false
                while i < chars.count, let d = Int(String(chars[i])), chars[i].isASCII, d >= 0 {
                    v = min(v * 10 + d, 100_000); i += 1; any = true
                }
                return any ? v : nil
            }
            guard let lo = num() else { return nil }
            var hi: Int? = lo
            if i < chars.count && chars[i] == "," { i += 1; hi = num() }
            guard i < chars.count && chars[i] == "}" else { return nil }
            return (lo, hi, i + 1 - pos)
        }

        mutating func literal(_ u: Unicode.Scalar, ci: Bool) -> Node {
            var c = RegexClass()
            c.ranges = [(u.value, u.value)]
            c.caseInsensitive = ci
            return add(c)
        }

        mutating func parseAtom(ci: Bool) throws -> Node {
            guard let c = peek else { throw error("unexpected end") }
            switch c {
            case "(":
                pos += 1
                var node: Node
                if peek == "?" {
                    pos += 1
                    guard let k = peek else { throw error("unterminated group") }
                    if k == ":" { pos += 1; node = try parseAlt(ci: ci) }
                    else if k == "=" || k == "!" { pos += 1; node = .look(try parseAlt(ci: ci), k == "!") }
                    else if k == "i" && pos + 1 < chars.count && chars[pos + 1] == ":" { pos += 2; node = try parseAlt(ci: true) }
                    else if k == "-" && pos + 2 < chars.count && chars[pos + 1] == "i" && chars[pos + 2] == ":" { pos += 3; node = try parseAlt(ci: false) }
                    else { throw error("group syntax (?\(k) is not supported") }
                } else {
                    node = try parseAlt(ci: ci)
                }
                guard peek == ")" else { throw error("missing ')'") }
                pos += 1
                return node
            case "[":
                pos += 1
                return add(try parseClass(ci: ci))
            case ".":
                pos += 1
                var k = RegexClass(); k.ranges = [(0x0A, 0x0A)]; k.negated = true
                return add(k)
            case "^": pos += 1; return .bol
            case "$": pos += 1; return .eol
            case "*", "+", "?": throw error("nothing to repeat")
            case "\\":
                pos += 1
                guard let e = peek else { throw error("trailing backslash") }
                if e == "A" { pos += 1; return .bol }
                if e == "z" { pos += 1; return .eol }
                var k = try parseEscape(ci: ci)
                k.caseInsensitive = ci
                return add(k)
            default:
                pos += 1
                return literal(c, ci: ci)
            }
        }

        /// After a backslash: a class for the escape (the backslash is consumed).
        mutating func parseEscape(ci: Bool) throws -> RegexClass {
            guard let e = peek else { throw error("trailing backslash") }
            pos += 1
            var k = RegexClass()
            func lit(_ v: UInt32) -> RegexClass { var k = RegexClass(); k.ranges = [(v, v)]; return k }
            switch e {
            case "s": k.anyMask = ScalarProps.whitespace
            case "S": k.notMasks = [ScalarProps.whitespace]
            case "d": k.anyMask = ScalarProps.digit
            case "D": k.notMasks = [ScalarProps.digit]
            case "w": k.anyMask = ScalarProps.word
            case "W": k.notMasks = [ScalarProps.word]
            case "p", "P":
                var name = ""
                if peek == "{" {
                    pos += 1
                    while let ch = peek, ch != "}" { name.unicodeScalars.append(ch); pos += 1 }
                    guard peek == "}" else { throw error("unterminated \\p{") }
                    pos += 1
                } else if let ch = peek {
                    name = String(ch); pos += 1
                }
                var neg = e == "P"
                if name.hasPrefix("^") { neg.toggle(); name.removeFirst() }
                guard let m = ScalarProps.named(name) else { throw error("unknown property \\p{\(name)}") }
                if neg { k.notMasks = [m] } else { k.anyMask = m }
            case "r": return lit(0x0D)
            case "n": return lit(0x0A)
            case "t": return lit(0x09)
            case "f": return lit(0x0C)
            case "v": return lit(0x0B)
            case "e": return lit(0x1B)
            case "a": return lit(0x07)
            case "0": return lit(0)
            case "x", "u":
                var hex = ""
                if e == "x" && peek == "{" {
                    pos += 1
                    while let ch = peek, ch != "}" { hex.unicodeScalars.append(ch); pos += 1 }
                    guard peek == "}" else { throw error("unterminated \\x{") }
                    pos += 1
                } else {
                    for _ in 0..<(e == "x" ? 2 : 4) {
                        guard let ch = peek else { break }
                        hex.unicodeScalars.append(ch); pos += 1
                    }
                }
                guard let v = UInt32(hex, radix: 16), Unicode.Scalar(v) != nil else { throw error("bad \\\(e) escape '\(hex)'") }
                return lit(v)
            default:
                if e.properties.isAlphabetic || (e.isASCII && e.properties.numericType != nil) {
                    throw error("escape \\\(e) is not supported")
                }
                return lit(e.value)
            }
            return k
        }

        mutating func parseClass(ci: Bool) throws -> RegexClass {
            var k = RegexClass()
            k.caseInsensitive = ci
            if peek == "^" { k.negated = true; pos += 1 }
            var first = true
            while true {
                guard let c = peek else { throw error("unterminated character class") }
                if c == "]" && !first { pos += 1; break }
                first = false
                if c == "[" { throw error("nested character classes are not supported") }
                var lo: UInt32
                if c == "\\" {
                    pos += 1
                    let e = try parseEscape(ci: ci)
                    if e.ranges.count == 1 && e.anyMask == 0 && e.notMasks.isEmpty && !e.negated {
                        lo = e.ranges[0].0
                    } else {
                        k.anyMask |= e.anyMask
                        k.notMasks += e.notMasks
                        continue
                    }
                } else {
                    lo = c.value; pos += 1
                }
                // a range lo-hi (a '-' before ']' is a literal)
                if peek == "-" && pos + 1 < chars.count && chars[pos + 1] != "]" {
                    pos += 1
                    var hi: UInt32
                    if peek == "\\" {
                        pos += 1
                        let e = try parseEscape(ci: ci)
                        guard e.ranges.count == 1 && e.anyMask == 0 && e.notMasks.isEmpty else { throw error("bad range end") }
                        hi = e.ranges[0].0
                    } else { hi = peek!.value; pos += 1 }
                    if hi < lo { throw error("range out of order") }
                    k.ranges.append((lo, hi))
                } else {
                    k.ranges.append((lo, lo))
                }
            }
            return k
        }
    }

    // MARK: Matching

    /// End of the match of program `prog` starting at `start`, within `lo..<hi`, or nil.
    /// `s` holds scalar values and `m` their property masks (`ScalarProps.mask`). Every executed
    /// instruction costs one step of `budget`; when it goes below zero the attempt stops (nil)
    /// and the caller must report the budget as exhausted.
    func matchAt(_ prog: Int, _ start: Int, lo: Int, hi: Int, s: UnsafeBufferPointer<UInt32>,
                 m: UnsafeBufferPointer<UInt32>, stack: inout [Int], budget: inout Int) -> Int? {
        let base = stack.count
        defer { stack.removeSubrange(base...) }
        return programs[prog].code.withUnsafeBufferPointer { code -> Int? in
            classes.withUnsafeBufferPointer { cls -> Int? in
                var pc = 0, pos = start
                while true {
                    budget -= 1
                    if budget < 0 { return nil }
                    var ok = true
                    switch code[pc] {
                    case .cls(let c):
                        if pos < hi && cls[c].contains(s[pos], mask: m[pos]) { pc += 1; pos += 1 } else { ok = false }
                    case .split(let a, let b):
                        stack.append(b); stack.append(pos); pc = a
                    case .jmp(let a): pc = a
                    case .match: return pos
                    case .bol: if pos == lo { pc += 1 } else { ok = false }
                    case .eol: if pos == hi { pc += 1 } else { ok = false }
                    case .look(let sub, let neg):
                        let r = matchAt(sub, pos, lo: lo, hi: hi, s: s, m: m, stack: &stack, budget: &budget) != nil
                        if budget < 0 { return nil }
                        if r != neg { pc += 1 } else { ok = false }
                    }
                    if !ok {
                        if stack.count == base { return nil }
                        pos = stack.removeLast(); pc = stack.removeLast()
                    }
                }
            }
        }
    }

    /// Calls `emit(a, b)` for each leftmost-first match in `lo..<hi`, scanning left to right
    /// (Oniguruma `search` semantics as used by `find_iter`); empty matches are skipped.
    /// Throws `TokenizerError.regexStepBudget` when the search needs more than
    /// `stepBudget(scalars: hi - lo)` steps; returns the steps it used.
    @discardableResult
    func forEachMatch(lo: Int, hi: Int, s: UnsafeBufferPointer<UInt32>, m: UnsafeBufferPointer<UInt32>,
                      stack: inout [Int], emit: (Int, Int) -> Void) throws -> Int {
        let limit = stepBudget(scalars: hi - lo)
        var budget = limit
        var p = lo
        while p < hi {
            let e = matchAt(0, p, lo: lo, hi: hi, s: s, m: m, stack: &stack, budget: &budget)
            if budget < 0 {
                throw TokenizerError.regexStepBudget(pattern: pattern, source: source, steps: limit, scalars: hi - lo)
            }
            if let e, e > p {
                emit(p, e); p = e
            } else {
                p += 1
            }
        }
        return limit - budget
    }

    /// Matches of the whole pattern in `text`, as strings (for tests and inspection).
    public func matches(in text: String) throws -> [String] {
        try matchesAndSteps(in: text).matches
    }

    /// Matches of the whole pattern in `text` and the steps the search took (its budget is
    /// `stepBudget(scalars:)` of the text's scalar count).
    func matchesAndSteps(in text: String) throws -> (matches: [String], steps: Int) {
        let sc = Array(text.unicodeScalars)
        let vals = sc.map(\.value), masks = sc.map(ScalarProps.mask)
        var out: [String] = []
        var stack: [Int] = []
        let steps = try vals.withUnsafeBufferPointer { s in
            try masks.withUnsafeBufferPointer { m in
                try forEachMatch(lo: 0, hi: sc.count, s: s, m: m, stack: &stack) { a, b in
                    var str = String.UnicodeScalarView()
                    str.append(contentsOf: sc[a..<b])
                    out.append(String(str))
                }
            }
        }
        return (out, steps)
    }
}
