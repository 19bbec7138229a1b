import Foundation
import Support
import Tokenization

enum TokenizeCommand: Command {
    static let name = "tokenize"
    static let summary = "print token ids of a dataset, file or stdin"
    static let help = """
    mxq tokenize — print the token ids of a text, one per line (no BOS is added)

    usage: mxq tokenize [--model PATH] [--pre NAME] (--dataset wikitext2|ptb | --file F | stdin) [--count]

    options:
      --model PATH      a GGUF file (vocabulary 'gpt2' = byte-level BPE or 'llama' = SentencePiece),
                        a tokenizer.json (byte-level BPE with ByteLevel / Digits / Split-regex
                        pre-tokenizers, e.g. Llama-3, Qwen2; or SentencePiece-style BPE with
                        byte fallback, e.g. Llama-2, Mistral), a SentencePiece tokenizer.model
                        (BPE; also *.model.v1 ...), or a checkpoint folder (its tokenizer.json,
                        else its tokenizer.model)
                        (default: the shipped SmolLM2-135M GGUF; run 'make setup')
      --pre NAME        override a byte-level model's pre-tokenizer: smollm (digits split one by
                        one, then the GPT-2 pattern) or gpt2 (GPT-2 pattern only)
    Added/special tokens of a tokenizer.json (e.g. <|begin_of_text|>, <s>) are matched in the
    text, as Hugging Face tokenizers does by default; SentencePiece models and GGUF files never
    match them (as sentencepiece and llama.cpp without parse_special).
      --dataset NAME    wikitext2 (vendored joined test text) or ptb (test split, lines
                        stripped and joined with spaces; run 'make setup')
      --file F          a UTF-8 text file, used as is
                        (with neither --dataset nor --file, the text is read from stdin)
      --count           print only the number of tokens
    The token count, text size and time go to stderr.
    """

    static func run(_ args: inout Args) throws {
        let modelPath = try args.option("--model")
        let pre = try args.option("--pre")
        let dataset = try args.option("--dataset")
        let file = try args.option("--file")
        let countOnly = args.flag("--count")
        if dataset != nil && file != nil {
            throw UsageError("tokenize: give either --dataset or --file, not both")
        }
        let text: String
        if let d = dataset {
            text = try EvalDataset(parsing: d).text()
        } else if let f = file {
            text = try CalibrationSource.file(URL(fileURLWithPath: f)).text()
        } else {
            guard let s = String(data: FileHandle.standardInput.readDataToEndOfFile(), encoding: .utf8) else {
                throw UsageError("tokenize: standard input is not valid UTF-8 text")
            }
            text = s
        }
        let modelURL: URL
        if let m = modelPath {
            modelURL = URL(fileURLWithPath: m)
        } else {
            modelURL = try Paths.requireSetUp(Paths.defaultModel, what: "default model (SmolLM2-135M GGUF)")
        }
        let t0 = monotonicSeconds()
        let tok = try BPETokenizer.load(model: modelURL, preTokenizer: pre)
        let t1 = monotonicSeconds()
        let ids = try tok.encode(text)
        let t2 = monotonicSeconds()
        let dropped = tok.droppedByteCount(in: text)
        if dropped > 0 {
            printErr("tokenize: warning: \(dropped) byte(s) of the text have no token in this vocabulary and were dropped")
        }
        printErr("tokenize: \(text.utf8.count) bytes -> \(ids.count) tokens (pre-tokenizer \(tok.preTokenizerName), "
            + "vocabulary \(tok.vocabSize)); load \(String(format: "%.2f", t1 - t0)) s, encode \(String(format: "%.2f", t2 - t1)) s")
        if countOnly {
            print(ids.count)
        } else {
            var out = ""
            out.reserveCapacity(ids.count * 6)
            for id in ids { out += String(id); out += "\n" }
            FileHandle.standardOutput.write(out.data(using: .utf8)!)
        }
    }
}
