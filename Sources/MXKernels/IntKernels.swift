import Support
import MXFormats
import MXKernelsC

// Integer MX × MX: MXINT8 activations × MXINT4/MXINT8 weights, block 32.
//
// Per pair of blocks the product is (sx·2⁻⁶)·(sw·cw)·S with S = Σ_block kx·kw the exact
// integer block sum of the element codes (|S| ≤ 32·127² < 2²⁴): every kernel here forms S
// in int32 (any order: integers), converts it exactly to fp32, and then does exactly the
// fp32 arithmetic of the unit-value MX × MX tile (`blockScaledGemm`, BlockScaledKernel.swift):
// per K chunk of `mxKBlocks`, t = madd(S, xs·ws, t) over the chunk's blocks in order from 0
// (madd = this build's `BuildMA`), then Y = t for the first chunk and Y = Y + t after.
// So every path (VNNI, AVX2, portable; GEMM or GEMV; any thread count) is bit-identical to
// `blockScaledGemm`, and equal to the fake-quant fp32 product up to fp32 summation order.
//
// Activations are quantized row by row with `MXRowEncoder` (same bytes as `MXTensor`
// encoding) while they are packed for the kernel: no separate quantization pass.

/// Which integer MX × MX code runs.
public enum IntMXPath: Int, Sendable, CaseIterable {
    /// Swift loops over int32 block sums (every target).
    case portable = 0
    /// AVX2 (`vpmaddubsw`), C intrinsics in MXKernelsC; MXINT4 weights only (MXINT8 weights
    /// would saturate VPMADDUBSW's int16 pairs): MXINT8 weights take the unit-value fp32 path.
    case avx2 = 1
    /// AVX-512 VNNI (`vpdpbusd`), C intrinsics in MXKernelsC.
    case vnni = 2

    public var name: String {
        switch self {
        case .portable: return "portable-swift"
        case .avx2: return "avx2"
        case .vnni: return "avx512-vnni"
        }
    }

    /// The path of this build, chosen at compile time from the C target's target features
    /// (`make build` compiles C with -march=native): VNNI when the build targets AVX-512 VNNI,
    /// else AVX2 when it targets AVX2 + FMA, else portable.
    public static let build: IntMXPath = IntMXPath(rawValue: Int(mxq_ik_build_path())) ?? .portable

    /// Whether this path's code is compiled in and the running CPU can execute it.
    public var isSupported: Bool {
        switch self {
        case .portable: return true
        case .avx2: return mxq_ik_cpu_supports(Int32(MXQ_IK_AVX2)) != 0
        case .vnni: return mxq_ik_cpu_supports(Int32(MXQ_IK_VNNI)) != 0
        }
    }
}

extension Kernels {
    /// Whether `mxmxgemm` runs the integer kernels for these operand formats: MXINT8
    /// activations, MXINT4 or MXINT8 weights, block 32 on both sides.
    public static func intMXApplies(acts: MXConfig, weights: MXConfig) -> Bool {
        acts.format == .mxint8 && (weights.format == .mxint4 || weights.format == .mxint8)
            && acts.block == 32 && weights.block == 32
    }

    /// Integer MX × MX: `Y[M,N] = Q(X) · decode(W)ᵀ` with X [M,K] row-major fp32 quantized
    /// row by row to `acts` (MXINT8, block 32) and W packed MXINT4/MXINT8 [N,K] (block 32).
    /// Overwrites Y. Bit-identical to the unit-value block-scaled MX × MX for every path,
    /// M and thread count (see the top of IntKernels.swift). `path` defaults to the build's.
    public static func intmxgemm(m: Int, x: UnsafePointer<Float>, acts: MXConfig, w: MXTensor,
                                 y: UnsafeMutablePointer<Float>, threads: Int? = nil, ldx: Int? = nil, ldy: Int? = nil,
                                 path: IntMXPath = .build) {
        precondition(intMXApplies(acts: acts, weights: w.config), "intmxgemm: needs MXINT8 activations and MXINT4/8 weights, block 32")
        precondition(path.isSupported, "intmxgemm: path \(path.name) is not available on this CPU/build")
        let n = w.rows, k = w.cols
        let ldx = ldx ?? k, ldy = ldy ?? n
        precondition(m >= 0 && ldx >= k && ldy >= n, "intmxgemm: bad M or leading dimension")
        if m == 0 || n == 0 { return }
        let t = max(1, threads ?? Parallel.defaultThreads)
        let nBlk = w.blocksPerRow
        if nBlk == 0 {
            for i in 0..<m { (y + i * ldy).update(repeating: 0, count: n) }
            return
        }
        let op = IntOperands(w: w, acts: acts)
        w.scales.withUnsafeBufferPointer { sb in w.elements.withUnsafeBufferPointer { eb in
            let wv = IntWeights(elements: eb.baseAddress!, scales: sb.baseAddress!, rows: n, nBlk: nBlk, bits: op.bits)
            switch path {
            case .avx2 where op.bits == 8 && m <= 8:
                // MXINT8 weights on AVX2 (see below), GEMV: the portable path (measured 0.28× fp32
                // for the block-scaled tile at M = 1, 2× for the portable path).
                intGemmPortable(m: m, x: x, ldx: ldx, k: k, enc: op.encoder, w: wv, jRange: 0..<n, y: y, ldy: ldy, threads: t)
            case .avx2 where op.bits == 8:
                // No saturation-free AVX2 form for int8 × int8 that beats fp32 FMA: the unit-value
                // fp32 tile (the same results by the contract above).
                if ldx == k {
                    blockScaledMXMX(m: m, x: x, acts: acts, w: w, y: y, ldy: ldy, threads: t)
                } else {
                    var xc = [Float](repeating: 0, count: m * k)
                    for i in 0..<m { for kk in 0..<k { xc[i * k + kk] = x[i * ldx + kk] } }
                    blockScaledMXMX(m: m, x: xc, acts: acts, w: w, y: y, ldy: ldy, threads: t)
                }
            case .vnni, .avx2:
                if m <= 8 {
                    intGemvSIMD(path, m: m, x: x, ldx: ldx, k: k, enc: op.encoder, w: wv, y: y, ldy: ldy, threads: t)
                } else {
                    intGemmSIMD(path, m: m, x: x, ldx: ldx, k: k, enc: op.encoder, w: wv, y: y, ldy: ldy, threads: t)
                }
            case .portable:
                intGemmPortable(m: m, x: x, ldx: ldx, k: k, enc: op.encoder, w: wv, jRange: 0..<n, y: y, ldy: ldy, threads: t)
            }
        } }
    }
}

/// An input X [M, K] quantized to MXINT8 (block 32) and packed once for several integer
/// products that read it (q/k/v share one input, gate/up another): `intmxgemm(packed:w:…)`
/// then skips the quantization and packing `intmxgemm(x:…)` does per call, with bit-identical
/// results (the same bytes feed the same tiles). Only the SIMD GEMM packs this way
/// (`IntMXPackedActs.applies`); the buffer is returned to the scratch pool on deinit.
public final class IntMXPackedActs: @unchecked Sendable {
    public let m: Int, k: Int
    public let acts: MXConfig
    public let path: IntMXPath
    let packedA: IntPackedA

    /// Whether one packing serves `intmxgemm` of M rows with weights in `weights`: the integer
    /// kernels apply (`intMXApplies`), M > 8 (GEMM) and `path` runs a SIMD GEMM for them
    /// (VNNI; AVX2 for MXINT4 weights).
    public static func applies(m: Int, acts: MXConfig, weights: MXConfig, path: IntMXPath = .build) -> Bool {
        Kernels.intMXApplies(acts: acts, weights: weights) && m > 8
            && (path == .vnni || (path == .avx2 && weights.format == .mxint4)) && path.isSupported
    }

    /// Quantizes and packs X (row-major, row stride `ldx`, default K) for `path`'s GEMM.
    public init(m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int? = nil, acts: MXConfig, threads: Int? = nil,
                path: IntMXPath = .build) {
        precondition(acts.format == .mxint8 && acts.block == 32 && m > 8 && k > 0 && (ldx ?? k) >= k,
                     "IntMXPackedActs: needs MXINT8 block 32 activations, M > 8")
        self.m = m; self.k = k; self.acts = acts; self.path = path
        packedA = IntPackedA(m: m, nBlk: (k + 31) / 32)
        packedA.pack(x: x, ldx: ldx ?? k, k: k, enc: MXRowEncoder(acts), threads: max(1, threads ?? Parallel.defaultThreads))
    }

    deinit { packedA.release() }
}

extension Kernels {
    /// `intmxgemm` on activations packed once (`IntMXPackedActs`): Y[M,N] = Q(X) · decode(W)ᵀ,
    /// bit-identical to `intmxgemm(m:x:acts:w:…)` with the same X and path. Overwrites Y.
    public static func intmxgemm(packed xa: IntMXPackedActs, w: MXTensor, y: UnsafeMutablePointer<Float>,
                                 threads: Int? = nil, ldy: Int? = nil) {
        precondition(IntMXPackedActs.applies(m: xa.m, acts: xa.acts, weights: w.config, path: xa.path) && w.cols == xa.k,
                     "intmxgemm(packed:): weights \(w.config.format) [\(w.rows), \(w.cols)] do not fit the packed activations [\(xa.m), \(xa.k)]")
        let n = w.rows, ldy = ldy ?? n
        precondition(ldy >= n, "intmxgemm(packed:): bad leading dimension")
        if n == 0 { return }
        let t = max(1, threads ?? Parallel.defaultThreads)
        let bits = w.config.format == .mxint4 ? 4 : 8
        w.scales.withUnsafeBufferPointer { sb in w.elements.withUnsafeBufferPointer { eb in
            let wv = IntWeights(elements: eb.baseAddress!, scales: sb.baseAddress!, rows: n, nBlk: w.blocksPerRow, bits: bits)
            intGemmSIMD(xa.path, a: xa.packedA, w: wv, y: y, ldy: ldy, threads: t)
        } }
    }
}

/// Scale tables: E8M0 byte → 2^(byte−127) · unit factor, exactly as `unpackUnits` forms them
/// (`e8m0Table[byte] * factor`, NaN for 0xFF).
let intScaleTableX: [Float] = e8m0Table.map { $0 * 0x1p-6 }
let intScaleTableW4: [Float] = e8m0Table.map { $0 * 0x1p-2 }

struct IntOperands {
    let bits: Int
    let encoder: MXRowEncoder
    init(w: MXTensor, acts: MXConfig) {
        bits = w.config.format == .mxint4 ? 4 : 8
        encoder = MXRowEncoder(acts)
    }
}

extension Kernels {
    /// Whether the C MXINT8 row quantizer (`mxq_ik_quant_row_int8`, bit-identical to MXFormats'
    /// encoder) takes activations of config `c`: MXINT8, block 32, scale rule floor, ties to even.
    public static func int8RowQuantizerApplies(_ c: MXConfig) -> Bool {
        c.format == .mxint8 && c.block == 32 && c.scaleRule == .floor && c.rounding == .even
    }
}

extension MXRowEncoder {
    /// Encodes row `row` of `cols` values (MXINT8, block 32): the C quantizer where it applies
    /// (`Kernels.int8RowQuantizerApplies`; vectorized), else MXFormats' encoder.
    @inline(__always)
    func encodeInt8Row(_ src: UnsafePointer<Float>, cols: Int, row: Int, scales: UnsafeMutablePointer<UInt8>,
                       packed: UnsafeMutablePointer<UInt8>) {
        if Kernels.int8RowQuantizerApplies(config) {
            mxq_ik_quant_row_int8(src, cols, packed, scales)
        } else {
            encodeRow(src, cols: cols, row: row, scales: scales, packed: packed)
        }
    }
}

/// A view of packed MXINT weights (block 32): rows × nBlk blocks, `bits` 4 or 8.
struct IntWeights: @unchecked Sendable {
    let elements: UnsafePointer<UInt8>, scales: UnsafePointer<UInt8>
    let rows: Int, nBlk: Int, bits: Int
    var bytesPerBlock: Int { bits == 4 ? 16 : 32 }
    var scaleTable: [Float] { bits == 4 ? intScaleTableW4 : intScaleTableX }
}

/// `mxKBlocks` chunk ends (cumulative block indices).
func chunkEnds(_ nBlk: Int) -> [Int] { mxKBlocks(blocks: nBlk, block: 32).map { $0.b0 + $0.nb } }

/// Whether this build's multiply-add is fused (the C kernels do the same).
@usableFromInline let buildFused: Int32 = BuildMA.name == "fma" ? 1 : 0

// MARK: - SIMD (AVX-512 VNNI; AVX2 for MXINT4 weights)

/// GEMM (M > 8): X quantized and packed into MR-row panels (parallel over panels), then
/// tasks over NR-row weight panels: pack the panel (int8 + 128, all K), then for each K
/// chunk, for each X panel, one MR×NR tile that writes (first chunk) or adds into Y.
func intGemmSIMD(_ path: IntMXPath, m: Int, x: UnsafePointer<Float>, ldx: Int, k: Int, enc: MXRowEncoder, w: IntWeights,
                 y: UnsafeMutablePointer<Float>, ldy: Int, threads T: Int) {
    let a = IntPackedA(m: m, nBlk: w.nBlk)
    defer { a.release() }
    a.pack(x: x, ldx: ldx, k: k, enc: enc, threads: T)
    intGemmSIMD(path, a: a, w: w, y: y, ldy: ldy, threads: T)
}

/// X [M, K] as the SIMD GEMM reads it: MXINT8 codes in MR-row panels (4-byte groups of each
/// row interleaved), per block and row the correction −128·Σcodes and the scale 2^E·2⁻⁶,
/// in one scratch buffer (`release` returns it).
struct IntPackedA: @unchecked Sendable {
    let m: Int, nBlk: Int, mPanels: Int
    let a: UnsafeMutablePointer<Int8>, corr: UnsafeMutablePointer<Int32>, xs: UnsafeMutablePointer<Float>
    private let buf: (UnsafeMutableRawPointer, Int)
    var aPanel: Int { nBlk * 32 * Int(MXQ_IK_MR) }
    var sPanel: Int { nBlk * Int(MXQ_IK_MR) }

    init(m: Int, nBlk: Int) {
        let MR = Int(MXQ_IK_MR)
        self.m = m; self.nBlk = nBlk
        mPanels = (m + MR - 1) / MR
        let aBytes = mPanels * nBlk * 32 * MR, cBytes = mPanels * nBlk * MR * 4
        buf = Scratch.take(bytes: aBytes + 2 * cBytes + 64)
        a = buf.0.bindMemory(to: Int8.self, capacity: aBytes)
        corr = (buf.0 + aBytes).bindMemory(to: Int32.self, capacity: mPanels * nBlk * MR)
        xs = (buf.0 + aBytes + cBytes).bindMemory(to: Float.self, capacity: mPanels * nBlk * MR)
    }

    func release() { Scratch.give(buf) }

    /// Quantizes rows of X (row stride `ldx`, K columns) with `enc` and packs them (parallel over panels).
    func pack(x: UnsafePointer<Float>, ldx: Int, k: Int, enc: MXRowEncoder, threads T: Int) {
        let MR = Int(MXQ_IK_MR)
        let nBlk = self.nBlk, m = self.m, aPanel = self.aPanel, sPanel = self.sPanel
        let ptrs = UncheckedSendable((a, corr, xs))
        intScaleTableX.withUnsafeBufferPointer { stx in
            let stxp = UncheckedSendable(stx.baseAddress!)
            Parallel.forRanges(mPanels, threads: T, minChunk: 4) { range in
                let (a, corr, xs) = ptrs.value
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: nBlk * 33) { tb in
                    let codes = tb.baseAddress!, sc = codes + nBlk * 32
                    for p in range {
                        for r in 0..<MR {
                            let i = p * MR + r
                            if i < m {
                                enc.encodeInt8Row(x + i * ldx, cols: k, row: i, scales: sc, packed: codes)
                            } else {
                                codes.update(repeating: 0, count: nBlk * 33)
                            }
                            mxq_ik_pack_a_row(codes, sc, nBlk, stxp.value, r, a + p * aPanel, corr + p * sPanel, xs + p * sPanel)
                        }
                    }
                }
            }
        }
    }
}

/// The SIMD GEMM's weight loop on packed activations `pa`: tasks over NR-row weight panels
/// (pack the panel, int8 + bias, all K), then per K chunk and X panel one MR×NR tile that
/// writes (first chunk) or adds into Y.
func intGemmSIMD(_ path: IntMXPath, a pa: IntPackedA, w: IntWeights, y: UnsafeMutablePointer<Float>, ldy: Int, threads T: Int) {
    let MR = Int(MXQ_IK_MR), NR = Int(MXQ_IK_NR)
    let nBlk = w.nBlk, n = w.rows, m = pa.m, mPanels = pa.mPanels
    precondition(pa.nBlk == nBlk, "intGemmSIMD: activations have \(pa.nBlk) blocks per row, weights \(nBlk)")
    let nPanels = (n + NR - 1) / NR
    let aPanel = pa.aPanel, sPanel = pa.sPanel
    let ptrs = UncheckedSendable((pa.a, pa.corr, pa.xs))
    let ends = chunkEnds(nBlk)
    let cpath = Int32(path.rawValue), bias: Int32 = path == .avx2 ? 8 : 128
    let counter = WorkQueue(count: nPanels)
    let workers = min(T, nPanels)
    let fused = buildFused
    let yp = UncheckedSendable(y)
    w.scaleTable.withUnsafeBufferPointer { stw in
        let stwp = UncheckedSendable(stw.baseAddress!)
        Parallel.forEach(workers, threads: workers) { _ in
            let (a, corr, xs) = ptrs.value
            let bBytes = nBlk * 32 * NR
            let pb = Scratch.take(bytes: bBytes + nBlk * NR * 4)
            defer { Scratch.give(pb) }
            let bp = pb.0.bindMemory(to: UInt8.self, capacity: bBytes)
            let ws = (pb.0 + bBytes).bindMemory(to: Float.self, capacity: nBlk * NR)
            while let p = counter.next() {
                let j0 = p * NR, nv = min(NR, n - j0)
                mxq_ik_pack_b(w.elements, w.scales, nBlk, Int32(w.bits), j0, nv, stwp.value, bias, bp, ws)
                var b0 = 0
                for (ci, e) in ends.enumerated() {
                    let nb = e - b0
                    for mp in 0..<mPanels {
                        let i0 = mp * MR, mv = min(MR, m - i0)
                        mxq_ik_tile(cpath, nb, a + mp * aPanel + b0 * 32 * MR, bp + b0 * 32 * NR,
                                    corr + mp * sPanel + b0 * MR, xs + mp * sPanel + b0 * MR, ws + b0 * NR,
                                    yp.value + i0 * ldy + j0, ldy, mv, nv, ci > 0 ? 1 : 0, fused)
                    }
                    b0 = e
                }
            }
        }
    }
}

/// GEMV (M ≤ 8): each X row quantized and reordered for the weight format, then 16 weight
/// rows at a time read straight from the packed bytes (4-bit codes unpacked in registers);
/// the last N mod 16 rows take the portable path (same arithmetic).
func intGemvSIMD(_ path: IntMXPath, m: Int, x: UnsafePointer<Float>, ldx: Int, k: Int, enc: MXRowEncoder, w: IntWeights,
                 y: UnsafeMutablePointer<Float>, ldy: Int, threads T: Int) {
    let nBlk = w.nBlk, n = w.rows
    let G = Int(MXQ_IK_GR)
    let groups = n / G
    var xg = [Int8](repeating: 0, count: m * nBlk * 32)
    var corr = [Int32](repeating: 0, count: m * nBlk)
    var xs = [Float](repeating: 0, count: m * nBlk)
    var codes = [UInt8](repeating: 0, count: nBlk * 32), sc = [UInt8](repeating: 0, count: nBlk)
    intScaleTableX.withUnsafeBufferPointer { stx in
        for i in 0..<m {
            enc.encodeInt8Row(x + i * ldx, cols: k, row: i, scales: &sc, packed: &codes)
            mxq_ik_pack_x_gemv(codes, sc, nBlk, stx.baseAddress!, Int32(w.bits), &xg[i * nBlk * 32], &corr[i * nBlk], &xs[i * nBlk])
        }
    }
    let ends = chunkEnds(nBlk)
    let fused = buildFused
    // MXINT4 weights: the AVX2 GEMV kernel also on VNNI builds — measured faster on Zen 4
    // (`mxq bench kernels --portable`: 5.3–9.7× vs 3.2–7.1× fp32 GEMV; its zmm ops are double-pumped;
    // again with two SpinTeam threads: 5.8–8.8× against 5.4–7.8× for a VNNI kernel reading four
    // blocks per row at a time, which was faster only with the weights in cache).
    let cpath = Int32(path == .vnni && w.bits == 4 ? IntMXPath.avx2.rawValue : path.rawValue)
    if groups > 0 {
        let yp = UncheckedSendable(y)
        xg.withUnsafeBufferPointer { xgb in corr.withUnsafeBufferPointer { cb in xs.withUnsafeBufferPointer { xsb in
            ends.withUnsafeBufferPointer { eb in w.scaleTable.withUnsafeBufferPointer { stw in
                let ptr = UncheckedSendable((xgb.baseAddress!, cb.baseAddress!, xsb.baseAddress!, eb.baseAddress!, stw.baseAddress!))
                // Threads through `SpinTeam`: a Dispatch wake-up and join cost more than a small GEMV's
                // work (`mxq bench kernels`, Zen 4, MXINT4 576×1536: 28 µs on one thread, 45–50 µs on
                // two Dispatch threads, 18 µs on two SpinTeam threads). ≥ 8 groups per part: a group
                // is only 16 rows. The result does not depend on the thread count.
                let parts = max(1, min(T, groups / 8))
                SpinTeam.shared.run(parts) { part in
                    let (xgp, cp, xsp, ep, st) = ptr.value
                    for g in (groups * part / parts)..<(groups * (part + 1) / parts) {
                        for i in 0..<m {
                            mxq_ik_gemv16(cpath, w.elements, w.scales, nBlk, Int32(w.bits), g * G,
                                          xgp + i * nBlk * 32, cp + i * nBlk, xsp + i * nBlk, st, ep, ends.count,
                                          yp.value + i * ldy, fused)
                        }
                    }
                }
            } }
        } } }
    }
    if groups * G < n {
        intGemmPortable(m: m, x: x, ldx: ldx, k: k, enc: enc, w: w, jRange: (groups * G)..<n, y: y, ldy: ldy, threads: 1)
    }
}

// MARK: - portable Swift

/// Portable path for output columns `jRange`: X rows quantized to int8 codes, W rows of the
/// range unpacked to int8 codes, int32 block sums, then the shared fp32 block arithmetic.
func intGemmPortable(m: Int, x: UnsafePointer<Float>, ldx: Int, k: Int, enc: MXRowEncoder, w: IntWeights,
                     jRange: Range<Int>, y: UnsafeMutablePointer<Float>, ldy: Int, threads T: Int) {
    let nBlk = w.nBlk, kp = nBlk * 32
    let nj = jRange.count
    if nj == 0 { return }
    var xc = [Int8](repeating: 0, count: m * kp), xsc = [UInt8](repeating: 0, count: m * nBlk)
    xc.withUnsafeMutableBufferPointer { xb in xsc.withUnsafeMutableBufferPointer { sb in
        let p = UncheckedSendable((xb.baseAddress!, sb.baseAddress!))
        Parallel.forRanges(m, threads: T, minChunk: 16) { range in
            for i in range {
                let (xcp, scp) = p.value
                UnsafeMutableRawPointer(xcp + i * kp).withMemoryRebound(to: UInt8.self, capacity: kp) { c in
                    enc.encodeRow(x + i * ldx, cols: k, row: i, scales: scp + i * nBlk, packed: c)
                }
            }
        }
    } }
    let xs = xsc.map { intScaleTableX[Int($0)] }
    let stw = w.scaleTable
    let ends = chunkEnds(nBlk)
    let yp = UncheckedSendable(y)
    xc.withUnsafeBufferPointer { xb in
        let xcp = UncheckedSendable(xb.baseAddress!)
        Parallel.forRanges(nj, threads: T, minChunk: 8) { range in
            let xcb = xcp.value
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: kp) { wbuf in
                let wc = wbuf.baseAddress!
                for jj in range {
                    let j = jRange.lowerBound + jj
                    // Unpack row j's codes (two's complement int4/int8 → Int8).
                    let row = w.elements + j * nBlk * w.bytesPerBlock
                    if w.bits == 4 {
                        for i in 0..<(kp / 2) {
                            let v = row[i]
                            wc[2 * i] = Int8(bitPattern: v << 4) >> 4
                            wc[2 * i + 1] = Int8(bitPattern: v) >> 4
                        }
                    } else {
                        UnsafeMutableRawPointer(wc).copyMemory(from: row, byteCount: kp)
                    }
                    for i in 0..<m {
                        let xr = xcb + i * kp
                        var out: Float = 0
                        var b = 0
                        for (ci, e) in ends.enumerated() {
                            var t: Float = 0
                            while b < e {
                                var s: Int32 = 0
                                let xp = xr + b * 32, wp = UnsafePointer(wc) + b * 32
                                for q in 0..<32 { s &+= Int32(xp[q]) &* Int32(wp[q]) }
                                let pr = xs[i * nBlk + b] * stw[Int(w.scales[j * nBlk + b])]
                                t = madd(t, Float(s), pr)
                                b += 1
                            }
                            out = ci == 0 ? t : out + t
                        }
                        yp.value[i * ldy + j] = out
                    }
                }
            }
        }
    }
}

extension Kernels {
    /// The unit-value fp32 block-scaled MX × MX (`blockScaledGemm`) for every M (no GEMV
    /// shortcut): what the integer kernels must equal bit for bit. For benchmarks' checks.
    /// X is [M, K] row-major (tight), Y row stride `ldy` (default N).
    public static func blockScaledMXMX(m: Int, x: UnsafePointer<Float>, acts: MXConfig, w: MXTensor,
                                       y: UnsafeMutablePointer<Float>, ldy: Int? = nil, threads: Int? = nil) {
        precondition(acts.block == w.config.block && m >= 0 && (ldy ?? w.rows) >= w.rows)
        if m == 0 || w.rows == 0 { return }
        let t = max(1, threads ?? Parallel.defaultThreads)
        let xq = MXTensor(encoding: UnsafeBufferPointer(start: x, count: m * w.cols), rows: m, cols: w.cols, config: acts, threads: t)
        withPacked(xq) { px in withPacked(w) { pw in blockScaledGemm(xq: px, w: pw, y: y, ldy: ldy ?? w.rows, threads: t) } }
    }
}
