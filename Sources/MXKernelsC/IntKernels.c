// Integer MXINT8 × MXINT4/MXINT8 kernels (contracts in include/MXKernelsC.h).
// Every x86-64 path is compiled with function target attributes, so tests can run each
// one the CPU supports; the build's own choice (mxq_ik_build_path) comes from the target
// features the build was compiled with (`make build` passes -march=native to clang).
#include "MXKernelsC.h"
#include "TileStore.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define MXQ_IK_X86 1
#endif

int mxq_ik_build_path(void) {
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512F__)
    return MXQ_IK_VNNI;
#elif defined(__AVX2__) && defined(__FMA__)
    return MXQ_IK_AVX2;
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
    if (path == MXQ_IK_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return 0;
#else
    (void)path;
    return 0;
#endif
}

// MARK: - MXINT8 row quantization (plain C; clang vectorizes the 32-wide loops)

/// Bit-exact with the MX contract (docs/mx-numerics.md) for rule floor, ties to even:
/// amax over the block by |bit pattern| (orders finite floats; ≥ 0x7F800000 means NaN/Inf:
/// scale 0xFF, codes 0); E = floor(log2 amax) = exponent field − 127, at least −127 (zero and
/// subnormal amax); k = RNE(v·2^(6−E)) saturated to ±127. v·2^(6−E) is exact whenever it is a
/// normal float (one multiply for E ≥ −121, else v·2^−E exactly then ·64), and a subnormal
/// product is < 2^−126, whose code is 0 anyway.
void mxq_ik_quant_row_int8(const float *x, long k, uint8_t *codes, uint8_t *scales) {
    const long nblk = (k + 31) / 32;
    for (long b = 0; b < nblk; b++) {
        float v[32];
        const long n = k - b * 32 < 32 ? k - b * 32 : 32;
        for (long i = 0; i < 32; i++) v[i] = i < n ? x[b * 32 + i] : 0.0f;
        uint32_t m = 0;
        for (int i = 0; i < 32; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            u &= 0x7FFFFFFFu;
            m = u > m ? u : m;
        }
        int8_t *c = (int8_t *)codes + b * 32;
        if (m >= 0x7F800000u) {
            scales[b] = 0xFF;
            memset(c, 0, 32);
            continue;
        }
        int e = (int)(m >> 23) - 127;
        if (e < -127) e = -127;
        scales[b] = (uint8_t)(e + 127);
        float s1, s2;
        if (e >= -121) { uint32_t sb = (uint32_t)(6 - e + 127) << 23; memcpy(&s1, &sb, 4); s2 = 1.0f; }
        else { uint32_t sb = (uint32_t)(-e + 127) << 23; memcpy(&s1, &sb, 4); s2 = 64.0f; }
        for (int i = 0; i < 32; i++) {
            float q = v[i] * s1 * s2;   // (v·s1)·s2, both exact (see above)
            q = q > 127.0f ? 127.0f : q;
            q = q < -127.0f ? -127.0f : q;
            c[i] = (int8_t)__builtin_rintf(q);   // default rounding mode: to nearest, ties to even
        }
    }
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
                   const float *stab, int bias, uint8_t *b, float *ws) {
    const uint8_t off = (uint8_t)(bias - 8);   // bits 4: (nibble ^ 8) = w + 8
    const long bpb = bits == 4 ? 16 : 32, rowBytes = nblk * bpb;
    uint8_t u[32];
    for (long j = 0; j < MXQ_IK_NR; j++) {
        for (long blk = 0; blk < nblk; blk++) {
            uint8_t *dst = b + blk * 32 * MXQ_IK_NR + j * 4;
            if (j < nv) {
                const uint8_t *p = elements + (j0 + j) * rowBytes + blk * bpb;
                if (bits == 4) {
                    for (int i = 0; i < 16; i++) {
                        u[2 * i] = (uint8_t)(((p[i] & 15) ^ 8) + off);
                        u[2 * i + 1] = (uint8_t)(((p[i] >> 4) ^ 8) + off);
                    }
                } else {
                    for (int i = 0; i < 32; i++) u[i] = p[i] ^ 0x80;
                }
                ws[blk * MXQ_IK_NR + j] = stab[scales[(j0 + j) * nblk + blk]];
            } else {
                memset(u, bias, 32);
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
    mxq_store_tile_avx512(&t[0][0], NV, mv, nv, y, ldy, accumulate);
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
    const char *pf_next = (const char *)elements + (j0 + 16) * rowBytes;   // may lie past the end: prefetches never fault
    const long pf_lines = (16 * rowBytes) >> 6, pf_per = (pf_lines + nblk - 1) / nblk;
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
            // Prefetch the next group's weight bytes (16 contiguous rows), spread over this
            // group's blocks: measured 1.6x on a weight matrix streamed from memory.
            for (long l = blk * pf_per; l < (blk + 1) * pf_per && l < pf_lines; l++) _mm_prefetch(pf_next + (l << 6), _MM_HINT_T0);
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

// MARK: - AVX2 (MXINT4 weights only: VPMADDUBSW of unsigned w + 8 ∈ [0, 15] and signed
// activations never saturates, |pair| ≤ 2·15·127, and 8 of them fit int16; MXINT8 weights
// would saturate it, so they take the unit-value fp32 path on AVX2 builds.)

#define TGT_AVX2 __attribute__((target("avx2,fma")))

/// The MR×NR tile for B packed with bias 8 (w + 8): two rows × 16 columns at a time.
TGT_AVX2 __attribute__((always_inline)) static inline void
tile_avx2_body(long nb, const int8_t *a, const uint8_t *b, const int32_t *corr, const float *xs, const float *ws,
               float *y, long ldy, long mv, long nv, int accumulate, const int fused) {
    enum { MR = MXQ_IK_MR, NR = MXQ_IK_NR };
    const __m256i ones = _mm256_set1_epi16(1);
    for (int rp = 0; rp < MR; rp += 2) {
        for (int c = 0; c < NR / 16; c++) {
            if (rp >= mv || c * 16 >= nv) continue;
            __m256 t[2][2];
            for (int r = 0; r < 2; r++) { t[r][0] = _mm256_setzero_ps(); t[r][1] = _mm256_setzero_ps(); }
            for (long blk = 0; blk < nb; blk++) {
                const uint8_t *pb = b + blk * 32 * NR + c * 64;
                const int8_t *pa = a + blk * 32 * MR + rp * 4;
                __m256i s[2][2];
                for (int q = 0; q < 8; q++) {
                    const __m256i b0 = _mm256_loadu_si256((const __m256i *)(pb + q * 4 * NR));
                    const __m256i b1 = _mm256_loadu_si256((const __m256i *)(pb + q * 4 * NR + 32));
                    for (int r = 0; r < 2; r++) {
                        int32_t x4;
                        memcpy(&x4, pa + q * 4 * MR + r * 4, 4);
                        const __m256i av = _mm256_set1_epi32(x4);
                        const __m256i p0 = _mm256_maddubs_epi16(b0, av), p1 = _mm256_maddubs_epi16(b1, av);
                        if (q == 0) { s[r][0] = p0; s[r][1] = p1; }
                        else { s[r][0] = _mm256_add_epi16(s[r][0], p0); s[r][1] = _mm256_add_epi16(s[r][1], p1); }
                    }
                }
                const __m256 w0 = _mm256_loadu_ps(ws + blk * NR + c * 16), w1 = _mm256_loadu_ps(ws + blk * NR + c * 16 + 8);
                for (int r = 0; r < 2; r++) {
                    const __m256i cr = _mm256_set1_epi32(corr[blk * MR + rp + r] >> 4);   // −128·Σx / 16 = −8·Σx
                    const __m256 xv = _mm256_set1_ps(xs[blk * MR + rp + r]);
                    const __m256 pw0 = _mm256_mul_ps(xv, w0), pw1 = _mm256_mul_ps(xv, w1);
                    const __m256 s0 = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(s[r][0], ones), cr));
                    const __m256 s1 = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(s[r][1], ones), cr));
                    t[r][0] = fused ? _mm256_fmadd_ps(s0, pw0, t[r][0]) : _mm256_add_ps(t[r][0], _mm256_mul_ps(s0, pw0));
                    t[r][1] = fused ? _mm256_fmadd_ps(s1, pw1, t[r][1]) : _mm256_add_ps(t[r][1], _mm256_mul_ps(s1, pw1));
                }
            }
            for (int r = 0; r < 2 && rp + r < mv; r++) {
                float tmp[16];
                _mm256_storeu_ps(tmp, t[r][0]); _mm256_storeu_ps(tmp + 8, t[r][1]);
                float *yr = y + (rp + r) * ldy + c * 16;
                const long cn = nv - c * 16 < 16 ? nv - c * 16 : 16;
                if (accumulate) { for (long j = 0; j < cn; j++) yr[j] = yr[j] + tmp[j]; }
                else { for (long j = 0; j < cn; j++) yr[j] = tmp[j]; }
            }
        }
    }
}

TGT_AVX2 static void tile_avx2_fma(long nb, const int8_t *a, const uint8_t *b, const int32_t *corr, const float *xs,
                                   const float *ws, float *y, long ldy, long mv, long nv, int acc) {
    tile_avx2_body(nb, a, b, corr, xs, ws, y, ldy, mv, nv, acc, 1);
}
TGT_AVX2 static void tile_avx2_split(long nb, const int8_t *a, const uint8_t *b, const int32_t *corr, const float *xs,
                                     const float *ws, float *y, long ldy, long mv, long nv, int acc) {
    tile_avx2_body(nb, a, b, corr, xs, ws, y, ldy, mv, nv, acc, 0);
}

/// GEMV, 16 MXINT4 weight rows as two halves of 8: acc i of a half holds row i (low 128 bits)
/// and row 4 + i (high), so three VPHADDD levels leave row i in lane i.
TGT_AVX2 __attribute__((always_inline)) static inline void
gemv16_avx2_body(const uint8_t *elements, const uint8_t *scales, long nblk, long j0, const int8_t *xg,
                 const int32_t *corr, const float *xs, const float *wstab, const long *chunk_end, long nchunks,
                 float *y, const int fused) {
    const long rowBytes = nblk * 16;
    const __m256i m0f = _mm256_set1_epi8(0x0F), x88 = _mm256_set1_epi8((char)0x88), ones = _mm256_set1_epi16(1);
    const char *pf_next = (const char *)elements + (j0 + 16) * rowBytes;   // may lie past the end: prefetches never fault
    const long pf_lines = (16 * rowBytes) >> 6, pf_per = (pf_lines + nblk - 1) / nblk;
    const uint8_t *srow = scales + j0 * nblk;
    float wsb[16] __attribute__((aligned(32)));
    for (long l = 0; l < 16 * nblk; l += 64) _mm_prefetch((const char *)(srow + 16 * nblk + l), _MM_HINT_T0);   // next group's scales
    __m256 yv[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    long blk = 0;
    for (long ch = 0; ch < nchunks; ch++) {
        __m256 t[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (; blk < chunk_end[ch]; blk++) {
            const __m128i xa1 = _mm_loadu_si128((const __m128i *)(xg + blk * 32));
            const __m128i xb1 = _mm_loadu_si128((const __m128i *)(xg + blk * 32 + 16));
            const __m256i xa = _mm256_set_m128i(xa1, xa1), xb = _mm256_set_m128i(xb1, xb1);
            // Prefetch the next group's weight bytes (16 contiguous rows), spread over this
            // group's blocks: measured 1.6x on a weight matrix streamed from memory.
            for (long l = blk * pf_per; l < (blk + 1) * pf_per && l < pf_lines; l++) _mm_prefetch(pf_next + (l << 6), _MM_HINT_T0);
            for (int i = 0; i < 16; i++) wsb[i] = wstab[srow[i * nblk + blk]];
            const __m256 xv = _mm256_set1_ps(xs[blk]);
            const __m256i cr = _mm256_set1_epi32(corr[blk]);
            for (int h = 0; h < 2; h++) {
                __m256i acc[4];
                for (int i = 0; i < 4; i++) {
                    const uint8_t *p = elements + (j0 + 8 * h + i) * rowBytes + blk * 16;
                    __m256i z = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(p + 4 * rowBytes)),
                                                 _mm_loadu_si128((const __m128i *)p));
                    z = _mm256_xor_si256(z, x88);
                    const __m256i P = _mm256_and_si256(z, m0f), Q = _mm256_and_si256(_mm256_srli_epi16(z, 4), m0f);
                    const __m256i m16 = _mm256_add_epi16(_mm256_maddubs_epi16(P, xa), _mm256_maddubs_epi16(Q, xb));
                    acc[i] = _mm256_madd_epi16(m16, ones);
                }
                const __m256i S = _mm256_add_epi32(_mm256_hadd_epi32(_mm256_hadd_epi32(acc[0], acc[1]),
                                                                     _mm256_hadd_epi32(acc[2], acc[3])), cr);
                const __m256 pw = _mm256_mul_ps(xv, _mm256_load_ps(wsb + 8 * h));
                const __m256 sf = _mm256_cvtepi32_ps(S);
                t[h] = fused ? _mm256_fmadd_ps(sf, pw, t[h]) : _mm256_add_ps(t[h], _mm256_mul_ps(sf, pw));
            }
        }
        for (int h = 0; h < 2; h++) yv[h] = ch == 0 ? t[h] : _mm256_add_ps(yv[h], t[h]);
    }
    _mm256_storeu_ps(y + j0, yv[0]);
    _mm256_storeu_ps(y + j0 + 8, yv[1]);
}

TGT_AVX2 static void gemv16_avx2(const uint8_t *e, const uint8_t *s, long nblk, long j0, const int8_t *xg,
                                 const int32_t *corr, const float *xs, const float *wstab, const long *ce, long nc,
                                 float *y, int fused) {
    if (fused) gemv16_avx2_body(e, s, nblk, j0, xg, corr, xs, wstab, ce, nc, y, 1);
    else gemv16_avx2_body(e, s, nblk, j0, xg, corr, xs, wstab, ce, nc, y, 0);
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
    if (path == MXQ_IK_AVX2) {
        if (fused) tile_avx2_fma(nb, a, b, corr, xs, ws, y, ldy, mv, nv, accumulate);
        else tile_avx2_split(nb, a, b, corr, xs, ws, y, ldy, mv, nv, accumulate);
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
    if (path == MXQ_IK_AVX2 && bits == 4) {
        gemv16_avx2(elements, scales, nblk, j0, xg, corr, xs, wstab, chunk_end, nchunks, y, fused);
        return;
    }
#endif
    (void)path; (void)elements; (void)scales; (void)nblk; (void)bits; (void)j0; (void)xg; (void)corr; (void)xs;
    (void)wstab; (void)chunk_end; (void)nchunks; (void)y; (void)fused;
    __builtin_trap();
}
