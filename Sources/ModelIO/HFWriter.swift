import Foundation
import Support

/// Errors writing a checkpoint folder (`mxq synth`, `mxq export`).
public enum CheckpointWriteError: UserFacingError, Equatable {
    /// The file system holding `path` has `available` bytes free; the folder needs `needed`.
    case noRoom(path: String, needed: Int64, available: Int64)
    /// A file could not be created or written.
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .noRoom(p, n, a):
            return oneLine("\(p): not enough disk space: the checkpoint needs \(formatBytes(n)) (\(n) bytes) but only \(formatBytes(a)) (\(a) bytes) are available")
        case let .cannotWrite(p, r):
            return oneLine("\(p): cannot write: \(r)")
        }
    }
}

/// "13.48 GB" (decimal units, as disk sizes are quoted).
public func formatBytes(_ n: Int64) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(format: "%.2f GB", d / 1e9) }
    if d >= 1e6 { return String(format: "%.1f MB", d / 1e6) }
    if d >= 1e3 { return String(format: "%.1f kB", d / 1e3) }
    return "\(n) B"
}

/// Free bytes for an unprivileged writer on the file system holding `path` (or its nearest
/// existing parent), or nil when it cannot be determined.
public func availableDiskBytes(at path: String) -> Int64? {
    var p = URL(fileURLWithPath: path).standardized
    while !FileManager.default.fileExists(atPath: p.path) && p.path != "/" { p = p.deletingLastPathComponent() }
    var s = statvfs()
    guard statvfs(p.path, &s) == 0 else { return nil }
    return Int64(s.f_bavail) * Int64(s.f_frsize)
}

/// Writes a Hugging Face checkpoint folder tensor by tensor: `config.json` and either one
/// `model.safetensors` or, when the tensors exceed `shardBytes`, shards
/// `model-0000i-of-0000n.safetensors` with `model.safetensors.index.json` (`metadata.total_size`
/// and `weight_map`), as transformers' `save_pretrained` does: tensors in `expectedTensors()`
/// order are added to the current shard until the next one would take it past `shardBytes`.
///
/// Memory: values are requested in chunks of `chunkElements` (`fill`) and written at once, so the
/// writer holds a few MB whatever the model size.
public struct HFCheckpointWriter {
    /// transformers' default `max_shard_size` ("5GB").
    public static let defaultShardBytes = 5_000_000_000
    /// Values per `fill` call (a multiple of 65,536).
    public static let chunkElements = 1 << 20

    public let config: LlamaHyperparameters
    public var dtype: SafetensorsWriter.DType
    public var shardBytes: Int

    public init(config: LlamaHyperparameters, dtype: SafetensorsWriter.DType, shardBytes: Int = defaultShardBytes) {
        precondition(shardBytes > 0, "HFCheckpointWriter: shardBytes must be positive")
        self.config = config; self.dtype = dtype; self.shardBytes = shardBytes
    }

    public var bytesPerValue: Int { dtype == .f32 ? 4 : 2 }

    /// The tensors (Hugging Face names, row-major shapes) grouped into files, in write order.
    public func shards() -> [[(name: String, shape: [Int])]] {
        var out: [[(name: String, shape: [Int])]] = [[]]
        var size = 0
        for t in config.expectedTensors() {
            let b = t.shape.reduce(1, *) * bytesPerValue
            if !out[out.count - 1].isEmpty && size + b > shardBytes { out.append([]); size = 0 }
            out[out.count - 1].append(t)
            size += b
        }
        return out
    }

    /// Bytes of all tensor data (the index's `total_size`).
    public var tensorBytes: Int64 {
        config.expectedTensors().reduce(Int64(0)) { $0 + Int64($1.shape.reduce(1, *) * bytesPerValue) }
    }

    /// The safetensors file names, in `shards()` order.
    public func fileNames() -> [String] {
        let n = shards().count
        if n == 1 { return ["model.safetensors"] }
        return (1...n).map { String(format: "model-%05d-of-%05d.safetensors", $0, n) }
    }

    /// Refuses (`CheckpointWriteError.noRoom`) when the file system at `dir` has less room than the
    /// tensors plus `extraBytes` (config, tokenizer) and 64 MiB of slack. `available` replaces the
    /// measured free space (tests).
    public func checkRoom(dir: String, extraBytes: Int64 = 0, available: Int64? = nil) throws {
        let needed = tensorBytes + extraBytes + (64 << 20)
        guard let free = available ?? availableDiskBytes(at: dir) else { return }
        if needed > free { throw CheckpointWriteError.noRoom(path: dir, needed: needed, available: free) }
    }

    /// Writes `config.json` (`hfConfigJSON()` with the `extraConfig` keys added or replaced, and
    /// `torch_dtype`) and the weights. `fill(name, shape, offset, out)` stores the row-major fp32
    /// values `offset ..< offset + out.count` of tensor `name` in `out` (q/k rows in Hugging Face's
    /// halves layout). Creates `dir` if needed; files already there with the same names are
    /// replaced, as are weights of an earlier write (`model.safetensors`, `model-*-of-*.safetensors`,
    /// the index); no other file is touched. Returns the files written (names).
    @discardableResult
    public func write(to dir: String, extraConfig: [String: Any] = [:],
                      progress: ProgressReporter? = nil,
                      fill: (String, [Int], Int, UnsafeMutableBufferPointer<Float>) throws -> Void) throws -> [String] {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        catch { throw CheckpointWriteError.cannotWrite(path: dir, reason: "cannot create folder: \(error.localizedDescription)") }
        let groups = shards(), names = fileNames()
        // weights of an earlier write with another shard count would be loaded beside the new ones
        let stale = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { f in
            !names.contains(f) && (f == "model.safetensors" ||
                (f.hasPrefix("model-") && f.hasSuffix(".safetensors") && f.count == "model-00001-of-00002.safetensors".count))
        }
        for f in stale { try? FileManager.default.removeItem(atPath: (dir as NSString).appendingPathComponent(f)) }
        var weightMap: [(String, String)] = []
        var values = [Float](repeating: 0, count: Self.chunkElements)
        var bytes = [UInt8](repeating: 0, count: Self.chunkElements * 4)
        for (group, fname) in zip(groups, names) {
            let path = (dir as NSString).appendingPathComponent(fname)
            guard let fp = fopen(path, "wb") else {
                throw CheckpointWriteError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            func put(_ p: UnsafeRawPointer, _ n: Int) throws {
                if n > 0 && fwrite(p, 1, n, fp) != n {
                    throw CheckpointWriteError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
                }
            }
            do {
                // header: offsets follow from the shapes alone
                let header = safetensorsHeader(metadata: ["format": "pt"], tensors: group.map {
                    ($0.name, dtype.rawValue, $0.shape, $0.shape.reduce(1, *) * bytesPerValue)
                })
                for t in group { weightMap.append((t.name, fname)) }
                try header.withUnsafeBytes { try put($0.baseAddress!, $0.count) }
                for t in group {
                    let count = t.shape.reduce(1, *)
                    var start = 0
                    while start < count {
                        let n = min(Self.chunkElements, count - start)
                        try values.withUnsafeMutableBufferPointer { v in
                            try fill(t.name, t.shape, start, UnsafeMutableBufferPointer(rebasing: v[0..<n]))
                        }
                        let nb = try encode(values, count: n, into: &bytes, tensor: t.name)
                        try bytes.withUnsafeBytes { try put($0.baseAddress!, nb) }
                        start += n
                    }
                    progress?.advance()
                }
            } catch { fclose(fp); throw error }
            if fclose(fp) != 0 {   // a full disk can fail at close
                throw CheckpointWriteError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
        }
        let indexPath = (dir as NSString).appendingPathComponent("model.safetensors.index.json")
        if names.count > 1 {
            let map = weightMap.map { "    " + jsonString($0.0) + ": " + jsonString($0.1) }.joined(separator: ",\n")
            let text = "{\n  \"metadata\": {\n    \"total_size\": \(tensorBytes)\n  },\n  \"weight_map\": {\n" + map + "\n  }\n}\n"
            try writeFile(text, to: indexPath)
        } else if FileManager.default.fileExists(atPath: indexPath) {
            try? FileManager.default.removeItem(atPath: indexPath)   // a stale index would name missing shards
        }
        try writeFile(try configJSON(extra: extraConfig), to: (dir as NSString).appendingPathComponent("config.json"))
        return names + (names.count > 1 ? ["model.safetensors.index.json"] : []) + ["config.json"]
    }

    /// `config.json`: `hfConfigJSON()` plus `torch_dtype` and `extra` (which wins), keys sorted.
    public func configJSON(extra: [String: Any] = [:]) throws -> String {
        let base = try JSONSerialization.jsonObject(with: Data(config.hfConfigJSON().utf8)) as! [String: Any]
        var j = base
        j["torch_dtype"] = dtype == .f32 ? "float32" : dtype == .bf16 ? "bfloat16" : "float16"
        for (k, v) in extra { j[k] = v }
        let d = try JSONSerialization.data(withJSONObject: j, options: [.sortedKeys, .prettyPrinted])
        return String(decoding: d, as: UTF8.self) + "\n"
    }

    /// Encodes `count` values as `dtype` little-endian into `out`; returns the byte count.
    /// Non-finite values are refused (a checkpoint loader would refuse them too).
    func encode(_ v: [Float], count: Int, into out: inout [UInt8], tensor: String) throws -> Int {
        if let i = v[0..<count].firstIndex(where: { !$0.isFinite }) {
            throw ModelIOError.nonFinite(path: "(writing)", tensor: tensor, index: i, value: v[i])
        }
        let dt = dtype
        v.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                switch dt {
                case .f32:
                    for i in 0..<count { dst.storeBytes(of: src[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                case .bf16:
                    for i in 0..<count { dst.storeBytes(of: floatToBF16Bits(src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                case .f16:
                    for i in 0..<count { dst.storeBytes(of: floatToHalfBits(src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                }
            }
        }
        return count * bytesPerValue
    }
}

/// Writes UTF-8 `text` to `path` (CheckpointWriteError on failure).
public func writeFile(_ text: String, to path: String) throws {
    do { try writeBytes(Array(text.utf8), to: path) }
    catch { throw CheckpointWriteError.cannotWrite(path: path, reason: "\(error)") }
}
