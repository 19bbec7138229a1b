// The Hessian syrk's bf16 path (contracts in include/MXKernelsC.h).
// Why bf16 is exact here: an MX-quantized activation (MXINT8: a 7-bit integer times a power of
// two; MXFP8/6/4: at most 4 significant bits) is exactly a bf16 (8 significant bits), a product
// of two bf16 is exact in fp32 (16 significant bits), and VDPBF16PS adds the two products of a
// lane's pair to the fp32 accumulator one after the other, each add rounded to nearest even
// (odd element first; measured on Zen 4 against all other orders over 3.2 million lanes).
// A chain of VDPBF16PS therefore rounds exactly as the fp32 kernel's chain of FMAs in the same
// token order, except that it flushes subnormals: the packing refuses values for which any
// product or partial sum could be subnormal (every value zero or 2^-56 ≤ |x| < 2^48 makes every
// product and partial sum a multiple of 2^-126, hence zero or normal, and keeps sums finite).
#include "MXKernelsC.h"
#include "TileStore.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define MXQ_BF_X86 1
#define TGT_BF __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#endif

int mxq_bf_build_available(void) {
#if defined(__AVX512BF16__) && defined(__AVX512F__) && defined(__AVX512BW__)
    return 1;
#else
    return 0;
#endif
}

int mxq_bf_cpu_supports(void) {
#if MXQ_BF_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

// |x| bit patterns of the accepted range: 2^-56 = 0x23800000, 2^48 = 0x57800000.
#define BF_LO 0x23800000u
#define BF_HI 0x57800000u

#if MXQ_BF_X86
/// Token rows t0 and t1 (t1 may be absent: zeros) as one pair per feature, panels [0, panels).
TGT_BF static int pack_pair_plain(const float *r0, const float *r1, long n, long panels, long qn, uint32_t *d) {
    const __m512i lo = _mm512_set1_epi32((int)BF_LO), span = _mm512_set1_epi32((int)(BF_HI - BF_LO));
    const __m512i absm = _mm512_set1_epi32(0x7FFFFFFF), low16 = _mm512_set1_epi32(0xFFFF);
    for (long p = 0; p < panels; p++) {
        const long f0 = p * 16, nf = n - f0 >= 16 ? 16 : (n - f0 > 0 ? n - f0 : 0);
        const __mmask16 fm = nf >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nf) - 1);
        const __m512i u0 = _mm512_maskz_loadu_epi32(fm, r0 + f0);
        const __m512i u1 = r1 ? _mm512_maskz_loadu_epi32(fm, r1 + f0) : _mm512_setzero_si512();
        // exact: low 16 bits zero; range: |x| == 0 or |x| - 2^-56 < 2^48 - 2^-56 (unsigned; NaN, Inf fail)
        const __m512i bad = _mm512_and_si512(_mm512_or_si512(u0, u1), low16);
        if (_mm512_test_epi32_mask(bad, bad)) return 0;
        const __m512i m0 = _mm512_and_si512(u0, absm), m1 = _mm512_and_si512(u1, absm);
        const __mmask16 ok0 = _mm512_cmpeq_epi32_mask(m0, _mm512_setzero_si512()) |
                              _mm512_cmplt_epu32_mask(_mm512_sub_epi32(m0, lo), span);
        const __mmask16 ok1 = _mm512_cmpeq_epi32_mask(m1, _mm512_setzero_si512()) |
                              _mm512_cmplt_epu32_mask(_mm512_sub_epi32(m1, lo), span);
        if ((__mmask16)(ok0 & ok1) != (__mmask16)0xFFFF) return 0;
        // the earlier token in the high half (VDPBF16PS adds it first), the later in the low half
        const __m512i w = _mm512_or_si512(_mm512_andnot_si512(low16, u0), _mm512_srli_epi32(u1, 16));
        _mm512_storeu_si512((void *)(d + p * qn * 16), w);
    }
    return 1;
}

/// One quantized token row's per-block factors 2^(E−6) (0 for an all-zero block); 0 when a
/// block with a nonzero code has E outside [−40, 46] or is non-finite (scale byte 0xFF).
static int row_factors(const uint8_t *codes, const uint8_t *scales, long nblk, float *f) {
    for (long b = 0; b < nblk; b++) {
        if (scales[b] == 0xFF) return 0;   // NaN/Inf in the block: its values decode to NaN
        int nz = 0;
        for (int i = 0; i < 32; i++) nz |= codes[b * 32 + i];
        const int e = (int)scales[b] - 127;
        if (!nz) { f[b] = 0; continue; }
        if (e < -40 || e > 46) return 0;
        const uint32_t bits = (uint32_t)(e - 6 + 127) << 23;
        memcpy(&f[b], &bits, 4);
    }
    return 1;
}

/// Pair of quantized rows (codes c0/c1, factors f0/f1; c1 NULL: zeros) into panels [0, panels).
TGT_BF static void pack_pair_codes(const int8_t *c0, const float *f0, const int8_t *c1, const float *f1, long n,
                                   long panels, long qn, uint32_t *d) {
    const long used = (n + 15) / 16;
    const __m512i low16 = _mm512_set1_epi32(0xFFFF);
    for (long p = 0; p < panels; p++) {
        __m512i w = _mm512_setzero_si512();
        if (p < used) {
            const __m512 v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c0 + p * 16)))),
                                            _mm512_set1_ps(f0[p / 2]));
            __m512 v1 = _mm512_setzero_ps();
            if (c1) v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c1 + p * 16)))),
                                       _mm512_set1_ps(f1[p / 2]));
            w = _mm512_or_si512(_mm512_andnot_si512(low16, _mm512_castps_si512(v0)),
                                _mm512_srli_epi32(_mm512_castps_si512(v1), 16));
        }
        _mm512_storeu_si512((void *)(d + p * qn * 16), w);
    }
}
#endif

int mxq_bf_pack_pairs(const float *a, long lda, long kc, long n, long panels, long q0, long q1, long qn,
                      uint32_t *dst, int quantize) {
#if MXQ_BF_X86
    if (!mxq_bf_cpu_supports()) return 0;
    if (!quantize) {
        for (long q = q0; q < q1; q++) {
            const float *r1 = 2 * q + 1 < kc ? a + (2 * q + 1) * lda : 0;
            if (!pack_pair_plain(a + 2 * q * lda, r1, n, panels, qn, dst + q * 16)) return 0;
        }
        return 1;
    }
    // MXINT8 rows: the integer kernels' quantizer (bit-identical to MXFormats for floor / even),
    // value code·2^(E−6), exact in bf16 (7-bit codes) and within the range for E in [−40, 46].
    // per row of the pair: nblk factors (floats first, aligned), 32·nblk codes, nblk scale bytes
    const long nblk = (n + 31) / 32;
    float *f = (float *)malloc(sizeof(float) * (size_t)(2 * nblk) + (size_t)(2 * nblk * 32 + 2 * nblk));
    if (!f) return 0;
    uint8_t *c0 = (uint8_t *)(f + 2 * nblk), *c1 = c0 + nblk * 32, *s0 = c1 + nblk * 32, *s1 = s0 + nblk;
    int ok = 1;
    for (long q = q0; q < q1 && ok; q++) {
        const int two = 2 * q + 1 < kc;
        mxq_ik_quant_row_int8(a + 2 * q * lda, n, c0, s0);
        ok = row_factors(c0, s0, nblk, f);
        if (ok && two) {
            mxq_ik_quant_row_int8(a + (2 * q + 1) * lda, n, c1, s1);
            ok = row_factors(c1, s1, nblk, f + nblk);
        }
        if (ok) pack_pair_codes((const int8_t *)c0, f, two ? (const int8_t *)c1 : 0, f + nblk, n, panels, qn, dst + q * 16);
    }
    free(f);
    return ok;
#else
    (void)a; (void)lda; (void)kc; (void)n; (void)panels; (void)q0; (void)q1; (void)qn; (void)dst; (void)quantize;
    return 0;
#endif
}

#if MXQ_BF_X86
TGT_BF static void syrk_tile_avx512(long qn, const uint32_t *a, const uint32_t *b, long bstride, float *y, long ldy,
                                    long mv, long nv, int accumulate) {
    enum { MR = MXQ_BF_MR, NV = MXQ_BF_NR / 16 };
    __m512 t[MR][NV];
    for (int r = 0; r < MR; r++) for (int c = 0; c < NV; c++) t[r][c] = _mm512_setzero_ps();
    for (long q = 0; q < qn; q++) {
        __m512bh bv[NV];
        for (int c = 0; c < NV; c++) bv[c] = (__m512bh)_mm512_loadu_si512((const void *)(b + c * bstride + q * 16));
        for (int r = 0; r < MR; r++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[q * 16 + r]);
            for (int c = 0; c < NV; c++) t[r][c] = _mm512_dpbf16_ps(t[r][c], av, bv[c]);
        }
    }
    mxq_store_tile_avx512(&t[0][0], NV, mv, nv, y, ldy, accumulate);
}
#endif

void mxq_bf_syrk_tile(long qn, const uint32_t *a, const uint32_t *b, long bstride, float *y, long ldy, long mv,
                      long nv, int accumulate) {
#if MXQ_BF_X86
    syrk_tile_avx512(qn, a, b, bstride, y, ldy, mv, nv, accumulate);
    return;
#else
    (void)qn; (void)a; (void)b; (void)bstride; (void)y; (void)ldy; (void)mv; (void)nv; (void)accumulate;
    __builtin_trap();   // programmer error: the caller checks mxq_bf_cpu_supports
#endif
}
