import Foundation
import Support

extension BPETokenizer {
    static func loadGGUF(_ url: URL, preTokenizer: String?) throws -> BPETokenizer {
        throw TokenizerError.invalid(source: url.path, detail: "GGUF tokenizers need the ModelIO GGUF reader (pending)")
    }
}
