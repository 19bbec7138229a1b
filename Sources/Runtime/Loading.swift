// Building a runtime model from a checkpoint on disk, and evaluation token streams.
import Foundation
import Support
import ModelIO
import Tokenization

extension LlamaConfig {
    /// The runtime config of a loaded checkpoint (its RoPE pairing follows the weights' source).
    public init(_ h: LlamaHyperparameters, ropeLayout: RopeLayout) {
        self.init(vocabSize: h.vocab, hiddenSize: h.hidden, intermediateSize: h.intermediate, numLayers: h.layers,
                  numHeads: h.heads, numKVHeads: h.kvHeads, headDim: h.headDim, rmsNormEps: Float(h.rmsEps),
                  ropeTheta: h.ropeTheta, ropeLayout: ropeLayout,
                  tiedEmbeddings: h.tiedEmbeddings, ropeScaling: h.ropeScaling,
                  qkvBias: h.qkvBias, outputBias: h.outputBias)
    }
}

extension LlamaModel {
    /// A model from a loaded checkpoint (weights shared, not copied: fp32 copy-on-write, 16-bit
    /// linear weights as the same views into the mapped files).
    public convenience init(checkpoint ck: LlamaCheckpoint) throws {
        try self.init(config: LlamaConfig(ck.config, ropeLayout: ck.ropeLayout), stored: { name in
            ck.tensors[name].map { t in t.half.map { Linear.Storage.half($0) } ?? .f32(t.data) }
        })
    }

    /// Loads a `.gguf` file or a Hugging Face checkpoint folder (see `LlamaCheckpoint.load`).
    public static func load(path: String, threads: Int? = nil) throws -> LlamaModel {
        try LlamaModel(checkpoint: LlamaCheckpoint.load(path: path, threads: threads))
    }
}

/// The evaluation text of `dataset` tokenized (no BOS) with the tokenizer of the model at
/// `model` (GGUF metadata or the folder's tokenizer.json); `preTokenizer` overrides its pre-tokenizer.
public func datasetTokens(_ dataset: EvalDataset, model: URL, preTokenizer: String? = nil) throws -> [Int32] {
    let tok = try BPETokenizer.load(model: model, preTokenizer: preTokenizer)
    return try tok.encode(try dataset.text())
}
