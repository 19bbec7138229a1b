// The masked write-back of an AVX-512 register tile, shared by the integer GEMM tile
// (IntKernels.c) and the bf16 syrk tile (BF16Syrk.c). Private to this target.
#ifndef MXQ_TILE_STORE_H
#define MXQ_TILE_STORE_H
#if defined(__x86_64__)
#include <immintrin.h>

/// Rows r < mv of a tile held as t[r·nvec + c] (nvec vectors of 16 columns):
/// y[r·ldy + 16c + l] = t (accumulate = 0) or y + t (one fp32 add), for columns 16c + l < nv.
__attribute__((target("avx512f"), always_inline)) static inline void
mxq_store_tile_avx512(const __m512 *t, int nvec, long mv, long nv, float *y, long ldy, int accumulate) {
    for (long r = 0; r < mv; r++) {
        for (int c = 0; c < nvec; c++) {
            const long left = nv - c * 16;
            if (left <= 0) break;
            const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            float *yr = y + r * ldy + c * 16;
            __m512 v = t[r * nvec + c];
            if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, yr), v);
            _mm512_mask_storeu_ps(yr, m, v);
        }
    }
}
#endif
#endif
