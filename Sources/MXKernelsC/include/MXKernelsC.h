// Integer MXINT8 × MXINT4/MXINT8 kernels with x86 integer dot-product instructions, and the
// Hessian syrk's bf16 path (VDPBF16PS; Swift has no bf16 dot-product operation either)
// (see Sources/MXKernels/IntKernels.swift for the contract and the portable Swift path).
// C because Swift cannot express per-lane VPDPBUSD / VPMADDUBSW (measured: LLVM forms
// VPDPBUSD only from a scalar 4-product reduction). No dependencies beyond the compiler.
#ifndef MXKERNELSC_H
#define MXKERNELSC_H
#include <stdint.h>

/// Integer paths. 0: none compiled for this target (the Swift portable path runs),
/// 1: AVX2 (VPMADDUBSW/VPMADDWD), 2: AVX-512 VNNI (VPDPBUSD).
#define MXQ_IK_NONE 0
#define MXQ_IK_AVX2 1
#define MXQ_IK_VNNI 2

/// GEMM register tile: MR activation rows × NR weight rows.
#define MXQ_IK_MR 4
#define MXQ_IK_NR 48
/// GEMV: weight rows per group.
#define MXQ_IK_GR 16

/// The path this build selects at compile time from its target features
/// (__AVX512VNNI__ && __AVX512BW__ → VNNI; else __AVX2__ → AVX2; else none).
int mxq_ik_build_path(void);
/// Whether `path`'s code is compiled in (x86-64 only: every path is compiled with function
/// target attributes) and the running CPU supports it (tests call every supported path).
int mxq_ik_cpu_supports(int path);

/// Quantizes one fp32 row of `k` values to MXINT8, block 32, scale rule floor, ties to even:
/// ceil(k/32) scale bytes and ceil(k/32)·32 two's-complement codes (partial block zero
/// padded), bit-identical to MXFormats' encoder for that configuration.
void mxq_ik_quant_row_int8(const float *x, long k, uint8_t *codes, uint8_t *scales);

/// Packs one activation row (MXINT8 codes, two's-complement bytes, `nblk` blocks of 32,
/// zero padded) as row `r` of an MR-row GEMM panel:
/// a[(b·8 + q)·MR·4 + r·4 + e] = code[b·32 + 4q + e]; corr[b·MR + r] = −128·Σ_block code;
/// xs[b·MR + r] = stab[scale byte of block b] (stab: 2^(byte−127)·2^−6, NaN for 0xFF).
void mxq_ik_pack_a_row(const uint8_t *codes, const uint8_t *scales, long nblk, const float *stab, long r,
                       int8_t *a, int32_t *corr, float *xs);

/// Packs weight rows j0..j0+nv−1 (nv ≤ NR) of a packed MXINT4 (bits 4) or MXINT8 (bits 8)
/// tensor with `nblk` blocks of 32 per row into an NR-row panel over all blocks:
/// b[(blk·8 + q)·NR·4 + j·4 + e] = w[blk·32 + 4q + e] + bias (unsigned); ws[blk·NR + j] =
/// stab[scale byte] (2^(byte−127)·factor). Rows nv..NR−1 are zero weights (byte `bias`), scale 0.
/// `bias` (the unsigned offset of the packed weights): 128 for the VNNI tile; 8 for the AVX2
/// tile (bits 4 only: w + 8 ∈ [0, 15]).
void mxq_ik_pack_b(const uint8_t *elements, const uint8_t *scales, long nblk, int bits, long j0, long nv,
                   const float *stab, int bias, uint8_t *b, float *ws);

/// One MR×NR tile over blocks [0, nb) of packed panels a (from block b0 already applied)
/// and b: per block S[r][j] = Σ a·b + corr (exact int32: the MXINT block sum),
/// t[r][j] = t + S·(xs[r]·ws[j]) (fused: one fma; else multiply then add), t from 0,
/// blocks in order; then y[r·ldy + j] = t (accumulate = 0) or y + t (accumulate = 1) for
/// r < mv, j < nv. `path` selects VNNI (b packed with bias 128) or AVX2 (bits 4, bias 8;
/// corr is still −128·Σ, the tile divides it by 16); it must be supported.
void mxq_ik_tile(int path, long nb, const int8_t *a, const uint8_t *b, const int32_t *corr, const float *xs,
                 const float *ws, float *y, long ldy, long mv, long nv, int accumulate, int fused);

/// GEMV operand of one activation row for `mxq_ik_gemv`: per block b, xg[b·32 ..] holds the
/// 32 codes reordered for the weight format (bits 4: even elements then odd elements;
/// bits 8: natural order), corr[b] = −(8 for bits 4, 128 for bits 8)·Σ code,
/// xs[b] = stab[scale byte].
void mxq_ik_pack_x_gemv(const uint8_t *codes, const uint8_t *scales, long nblk, const float *stab, int bits,
                        int8_t *xg, int32_t *corr, float *xs);

/// y[j] for weight rows j in [j0, j0+16) (16 rows, all valid) of a packed MXINT4/8 tensor,
/// one activation row packed by mxq_ik_pack_x_gemv: per K chunk (block ranges given by
/// chunk_end, cumulative, nchunks of them) t = Σ_blocks in order t + S·(xs[b]·ws[j][b]) from 0,
/// y = t for the first chunk, y + t afterwards. wstab: 2^(byte−127)·factor. AVX2: bits 4 only.
void mxq_ik_gemv16(int path, const uint8_t *elements, const uint8_t *scales, long nblk, int bits, long j0,
                   const int8_t *xg, const int32_t *corr, const float *xs, const float *wstab,
                   const long *chunk_end, long nchunks, float *y, int fused);

// MARK: - Hessian syrk in bf16 (BF16Syrk.c): exact for MX-quantized activations

/// Register tile of the bf16 syrk: MR rows × NR columns of Y = AᵀA.
#define MXQ_BF_MR 8
#define MXQ_BF_NR 48

/// 1 when this build targets AVX-512 BF16 (__AVX512BF16__): Kernels.syrkUpper then tries the
/// bf16 path first.
int mxq_bf_build_available(void);
/// Whether the bf16 code is compiled in (x86-64, function target attributes) and the running
/// CPU has AVX-512 BF16.
int mxq_bf_cpu_supports(void);

/// Packs token pairs q in [q0, q1) of a K block of A (a: the block's first row, row stride
/// `lda` floats, `kc` rows, features 0..<n) into panels of 16 features, p in [0, panels):
/// dst[(p·qn + q)·16 + c] = bf16(A[2q][16p+c]) << 16 | bf16(A[2q+1][16p+c]), zero for features
/// ≥ n and for the missing partner of an odd last row; qn = ceil(kc/2) (the caller's).
/// quantize = 0: A as given; returns 1 when every value read is exactly a bf16 (low 16 bits
/// zero) and zero or within 2^-56 ≤ |x| < 2^48. quantize = 1: each row first quantized to
/// MXINT8 by mxq_ik_quant_row_int8 (block 32, floor, ties to even) and packed as its values
/// code·2^(E−6); returns 1 when every block with a nonzero code has E in [−40, 46] (then the
/// values are exact bf16 within the range). 0: use the fp32 path (dst partly written); also
/// when the CPU lacks AVX-512 BF16.
int mxq_bf_pack_pairs(const float *a, long lda, long kc, long n, long panels, long q0, long q1, long qn,
                      uint32_t *dst, int quantize);

/// One MR × NR tile of packed pairs: t[r][c] = Σ over q in order, from +0, of
/// pair(a[q·16 + r]) · pair(b[c/16·bstride + q·16 + c%16]) (earlier token first, each add
/// rounded: the fp32 FMA chain in token order); y[r·ldy + c] = t (accumulate 0) or y + t,
/// for r < mv, c < nv. a: the rows' panel offset to the first row (rows r < MR in one panel);
/// b: the first of NR/16 column panels, `bstride` u32 apart. Needs mxq_bf_cpu_supports().
void mxq_bf_syrk_tile(long qn, const uint32_t *a, const uint32_t *b, long bstride, float *y, long ldy, long mv,
                      long nv, int accumulate);

// MARK: - SHA-256 with the x86 SHA extensions (SHA256NI.c), for Support's SHA256

/// Whether the running CPU has the SHA extensions (x86-64 only).
int mxq_sha256_supported(void);
/// Compresses `nblocks` 64-byte blocks at `p` into the state h[0..7] (FIPS 180-4: a..h, native
/// integers), exactly as the scalar compression function applied block after block; k: the 64
/// round constants (Support's table, the one copy). Needs mxq_sha256_supported().
void mxq_sha256_blocks(uint32_t h[8], const uint8_t *p, long nblocks, const uint32_t *k);

#endif
