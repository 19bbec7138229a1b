// Integer MXINT8 × MXINT4/MXINT8 kernels (contracts in include/MXKernelsC.h).
// Every x86-64 path is compiled with function target attributes, so tests can run each
// one the CPU supports; the build's own choice (mxq_ik_build_path) comes from the target
// features the build was compiled with (`make build` passes -march=native to clang).
#include "MXKernelsC.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define MXQ_IK_X86 1
#endif

int mxq_ik_build_path(void) {
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512F__)
    return MXQ_IK_VNNI;
#else
    return MXQ_IK_NONE;
#endif
}

int mxq_ik_cpu_supports(int path) {
#if MXQ_IK_X86
    __builtin_cpu_init();
    if (path == MXQ_IK_VNNI)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    return 0;
#else
    (void)path;
    return 0;
#endif
}

// MARK: - packing (plain C)

void mxq_ik_pack_a_row(const uint8_t *codes, const uint8_t *scales, long nblk, const float *stab, long r,
                       int8_t *a, int32_t *corr, float *xs) {
    for (long b = 0; b < nblk; b++) {
        const int8_t *c = (const int8_t *)codes + b * 32;
        int8_t *dst = a + b * 32 * MXQ_IK_MR + r * 4;
        int32_t sum = 0;
        for (int q = 0; q < 8; q++) {
            memcpy(dst + q * 4 * MXQ_IK_MR, c + 4 * q, 4);
            sum += c[4 * q] + c[4 * q + 1] + c[4 * q + 2] + c[4 * q + 3];
        }
        corr[b * MXQ_IK_MR + r] = -128 * sum;
        xs[b * MXQ_IK_MR + r] = stab[scales[b]];
    }
}

void mxq_ik_pack_b(const uint8_t *elements, const uint8_t *scales, long nblk, int bits, long j0, long nv,
                   const float *stab, uint8_t *b, float *ws) {
    const long bpb = bits == 4 ? 16 : 32, rowBytes = nblk * bpb;
    uint8_t u[32];
    for (long j = 0; j < MXQ_IK_NR; j++) {
        for (long blk = 0; blk < nblk; blk++) {
            uint8_t *dst = b + blk * 32 * MXQ_IK_NR + j * 4;
            if (j < nv) {
                const uint8_t *p = elements + (j0 + j) * rowBytes + blk * bpb;
                if (bits == 4) {
                    for (int i = 0; i < 16; i++) {
                        u[2 * i] = (uint8_t)(((p[i] & 15) ^ 8) + 120);
                        u[2 * i + 1] = (uint8_t)(((p[i] >> 4) ^ 8) + 120);
                    }
                } else {
                    for (int i = 0; i < 32; i++) u[i] = p[i] ^ 0x80;
                }
                ws[blk * MXQ_IK_NR + j] = stab[scales[(j0 + j) * nblk + blk]];
            } else {
                memset(u, 128, 32);
                ws[blk * MXQ_IK_NR + j] = 0;
            }
            for (int q = 0; q < 8; q++) memcpy(dst + q * 4 * MXQ_IK_NR, u + 4 * q, 4);
        }
    }
}

void mxq_ik_pack_x_gemv(const uint8_t *codes, const uint8_t *scales, long nblk, const float *stab, int bits,
                        int8_t *xg, int32_t *corr, float *xs) {
    for (long b = 0; b < nblk; b++) {
        const int8_t *c = (const int8_t *)codes + b * 32;
        int8_t *d = xg + b * 32;
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) sum += c[i];
        if (bits == 4) {
            for (int i = 0; i < 16; i++) { d[i] = c[2 * i]; d[16 + i] = c[2 * i + 1]; }
        } else {
            memcpy(d, c, 32);
        }
        corr[b] = (bits == 4 ? -8 : -128) * sum;
        xs[b] = stab[scales[b]];
    }
}

#if MXQ_IK_X86
#define TGT_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))

// MARK: - AVX-512 VNNI GEMM tile

TGT_VNNI __attribute__((always_inline)) static inline void
tile_vnni_body(long nb, const int8_t *a, const uint8_t *b, const int32_t *corr, const float *xs, const float *ws,
               float *y, long ldy, long mv, long nv, int accumulate, const int fused) {
    enum { MR = MXQ_IK_MR, NR = MXQ_IK_NR, NV = MXQ_IK_NR / 16 };
    __m512 t[MR][NV];
    for (int r = 0; r < MR; r++) for (int c = 0; c < NV; c++) t[r][c] = _mm512_setzero_ps();
    for (long blk = 0; blk < nb; blk++) {
        __m512i s[MR][NV];
        for (int r = 0; r < MR; r++) {
            const __m512i c0 = _mm512_set1_epi32(corr[blk * MR + r]);
            for (int c = 0; c < NV; c++) s[r][c] = c0;
        }
        const uint8_t *pb = b + blk * 32 * NR;
        const int8_t *pa = a + blk * 32 * MR;
        for (int q = 0; q < 8; q++) {
            __m512i bv[NV];
            for (int c = 0; c < NV; c++) bv[c] = _mm512_loadu_si512((const void *)(pb + q * 4 * NR + c * 64));
            for (int r = 0; r < MR; r++) {
                int32_t x4;
                memcpy(&x4, pa + q * 4 * MR + r * 4, 4);
                const __m512i av = _mm512_set1_epi32(x4);
                for (int c = 0; c < NV; c++) s[r][c] = _mm512_dpbusd_epi32(s[r][c], bv[c], av);
            }
        }
        __m512 wv[NV];
        for (int c = 0; c < NV; c++) wv[c] = _mm512_loadu_ps(ws + blk * NR + c * 16);
        for (int r = 0; r < MR; r++) {
            const __m512 xv = _mm512_set1_ps(xs[blk * MR + r]);
            for (int c = 0; c < NV; c++) {
                const __m512 p = _mm512_mul_ps(xv, wv[c]);
                const __m512 sf = _mm512_cvtepi32_ps(s[r][c]);
                t[r][c] = fused ? _mm512_fmadd_ps(sf, p, t[r][c]) : _mm512_add_ps(t[r][c], _mm512_mul_ps(sf, p));
            }
        }
    }
    for (long r = 0; r < mv; r++) {
        for (int c = 0; c < NV; c++) {
            const long left = nv - c * 16;
            if (left <= 0) break;
            const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            float *yr = y + r * ldy + c * 16;
            __m512 v = t[r][c];
            if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, yr), v);
            _mm512_mask_storeu_ps(yr, m, v);
        }
    }
}

TGT_VNNI static void tile_vnni_fma(long nb, const int8_t *a, const uint8_t *b, const int32_t *corr, const float *xs,
                                   const float *ws, float *y, long ldy, long mv, long nv, int acc) {
    tile_vnni_body(nb, a, b, corr, xs, ws, y, ldy, mv, nv, acc, 1);
}
TGT_VNNI static void tile_vnni_split(long nb, const int8_t *a, const uint8_t *b, const int32_t *corr, const float *xs,
                                     const float *ws, float *y, long ldy, long mv, long nv, int acc) {
    tile_vnni_body(nb, a, b, corr, xs, ws, y, ldy, mv, nv, acc, 0);
}

// MARK: - AVX-512 VNNI GEMV (16 weight rows, straight from the packed bytes)

TGT_VNNI __attribute__((always_inline)) static inline void
gemv16_vnni_body(const uint8_t *elements, const uint8_t *scales, long nblk, const int bits, long j0,
                 const int8_t *xg, const int32_t *corr, const float *xs, const float *wstab,
                 const long *chunk_end, long nchunks, float *y, const int fused) {
    const long bpb = bits == 4 ? 16 : 32, rowBytes = nblk * bpb;
    const __m512i m0f = _mm512_set1_epi8(0x0F), x88 = _mm512_set1_epi8((char)0x88), x80 = _mm512_set1_epi8((char)0x80);
    // acc q, 128-bit quarter l ← weight row j0 + 4l + q, so the reduction below leaves row j0 + i in lane i.
    const uint8_t *rowp[4];
    for (int q = 0; q < 4; q++) rowp[q] = elements + (j0 + q) * rowBytes;
    const uint8_t *srow = scales + j0 * nblk;
    float wsb[16] __attribute__((aligned(64)));
    __m512 yv = _mm512_setzero_ps();
    long blk = 0;
    for (long ch = 0; ch < nchunks; ch++) {
        __m512 t = _mm512_setzero_ps();
        for (; blk < chunk_end[ch]; blk++) {
            const __m512i xa = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(xg + blk * 32)));
            const __m512i xb = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(xg + blk * 32 + 16)));
            __m512i acc[4];
            for (int q = 0; q < 4; q++) {
                const uint8_t *p = rowp[q] + blk * bpb;
                __m512i P, Q;
                if (bits == 4) {
                    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
                    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 4 * rowBytes)), 1);
                    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 8 * rowBytes)), 2);
                    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 12 * rowBytes)), 3);
                    z = _mm512_xor_si512(z, x88);                       // nibble ^ 8 = w + 8 ∈ [1, 15]
                    P = _mm512_and_si512(z, m0f);                       // even elements
                    Q = _mm512_and_si512(_mm512_srli_epi16(z, 4), m0f); // odd elements
                } else {
                    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
                    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 4 * rowBytes)), 1);
                    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 8 * rowBytes)), 2);
                    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 12 * rowBytes)), 3);
                    __m512i h = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + 16)));
                    h = _mm512_inserti32x4(h, _mm_loadu_si128((const __m128i *)(p + 4 * rowBytes + 16)), 1);
                    h = _mm512_inserti32x4(h, _mm_loadu_si128((const __m128i *)(p + 8 * rowBytes + 16)), 2);
                    h = _mm512_inserti32x4(h, _mm_loadu_si128((const __m128i *)(p + 12 * rowBytes + 16)), 3);
                    P = _mm512_xor_si512(z, x80);                       // w + 128
                    Q = _mm512_xor_si512(h, x80);
                }
                acc[q] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), P, xa), Q, xb);
            }
            const __m512i s1 = _mm512_add_epi32(_mm512_unpacklo_epi32(acc[0], acc[1]), _mm512_unpackhi_epi32(acc[0], acc[1]));
            const __m512i s2 = _mm512_add_epi32(_mm512_unpacklo_epi32(acc[2], acc[3]), _mm512_unpackhi_epi32(acc[2], acc[3]));
            __m512i S = _mm512_add_epi32(_mm512_unpacklo_epi64(s1, s2), _mm512_unpackhi_epi64(s1, s2));
            S = _mm512_add_epi32(S, _mm512_set1_epi32(corr[blk]));
            // The 16 rows' scales of this block (stride nblk). Scalar: measured 2× faster than two
            // zmm gathers (byte indices, then the table) on Zen 4.
            for (int i = 0; i < 16; i++) wsb[i] = wstab[srow[i * nblk + blk]];
            const __m512 wsv = _mm512_load_ps(wsb);
            const __m512 p = _mm512_mul_ps(_mm512_set1_ps(xs[blk]), wsv);
            const __m512 sf = _mm512_cvtepi32_ps(S);
            t = fused ? _mm512_fmadd_ps(sf, p, t) : _mm512_add_ps(t, _mm512_mul_ps(sf, p));
        }
        yv = ch == 0 ? t : _mm512_add_ps(yv, t);
    }
    _mm512_storeu_ps(y + j0, yv);
}

TGT_VNNI static void gemv16_vnni(const uint8_t *e, const uint8_t *s, long nblk, int bits, long j0, const int8_t *xg,
                                 const int32_t *corr, const float *xs, const float *wstab, const long *ce, long nc,
                                 float *y, int fused) {
    if (bits == 4) {
        if (fused) gemv16_vnni_body(e, s, nblk, 4, j0, xg, corr, xs, wstab, ce, nc, y, 1);
        else gemv16_vnni_body(e, s, nblk, 4, j0, xg, corr, xs, wstab, ce, nc, y, 0);
    } else {
        if (fused) gemv16_vnni_body(e, s, nblk, 8, j0, xg, corr, xs, wstab, ce, nc, y, 1);
        else gemv16_vnni_body(e, s, nblk, 8, j0, xg, corr, xs, wstab, ce, nc, y, 0);
    }
}
#endif

void mxq_ik_tile(int path, long nb, const int8_t *a, const uint8_t *b, const int32_t *corr, const float *xs,
                 const float *ws, float *y, long ldy, long mv, long nv, int accumulate, int fused) {
#if MXQ_IK_X86
    if (path == MXQ_IK_VNNI) {
        if (fused) tile_vnni_fma(nb, a, b, corr, xs, ws, y, ldy, mv, nv, accumulate);
        else tile_vnni_split(nb, a, b, corr, xs, ws, y, ldy, mv, nv, accumulate);
        return;
    }
#endif
    (void)path; (void)nb; (void)a; (void)b; (void)corr; (void)xs; (void)ws; (void)y; (void)ldy; (void)mv; (void)nv;
    (void)accumulate; (void)fused;
    __builtin_trap();   // programmer error: the caller checks mxq_ik_cpu_supports
}

void mxq_ik_gemv16(int path, const uint8_t *elements, const uint8_t *scales, long nblk, int bits, long j0,
                   const int8_t *xg, const int32_t *corr, const float *xs, const float *wstab,
                   const long *chunk_end, long nchunks, float *y, int fused) {
#if MXQ_IK_X86
    if (path == MXQ_IK_VNNI) {
        gemv16_vnni(elements, scales, nblk, bits, j0, xg, corr, xs, wstab, chunk_end, nchunks, y, fused);
        return;
    }
#endif
    (void)path; (void)elements; (void)scales; (void)nblk; (void)bits; (void)j0; (void)xg; (void)corr; (void)xs;
    (void)wstab; (void)chunk_end; (void)nchunks; (void)y; (void)fused;
    __builtin_trap();
}
