/* One recurrent step at batch 1, for generation: matrix-vector products with float32, bfloat16 or
 * int8 weights, and the LSTM, GRU and Elman updates after them, in float32.
 *
 * At batch 1 a step reads every weight once and does two flops with it, so its speed is the
 * speed at which the weights stream from cache or memory. Storing them in fewer bytes (bfloat16:
 * 2, int8 with a scale per row: 1) is what makes a step faster; the vector x stays float32 (the
 * products accumulate in float32, or, for int8 rows on CPUs with AVX512-VNNI, exactly in int32
 * against x written as two int16 vectors, finer than float32 itself). rnnkit/native/stepping.py binds these functions and rnnkit/models/stepping.py drives
 * them. Gate orders follow torch (LSTM i, f, g, o; GRU r, z, n with the reset after the
 * recurrent product). With u a step's input projection (biases included, for the GRU only the r
 * and z parts of b_hh) and p = W_hh h_{t-1}:
 *
 * LSTM:  i, f, o = sigmoid(u + p)_{i,f,o}; g = tanh(u + p)_g; c_t = f c + i g; h_t = o tanh(c_t)
 * GRU:   r, z = sigmoid(u + p)_{r,z}; n = tanh(u_n + r (p_n + b_hn)); h_t = n + z (h - n)
 * Elman: h_t = tanh(u + p) or relu(u + p)
 */

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "activations.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

enum { WEIGHTS_F32 = 0, WEIGHTS_BF16 = 1, WEIGHTS_INT8 = 2 };
enum { CELL_LSTM = 0, CELL_GRU = 1, CELL_TANH = 2, CELL_RELU = 3 };

/* The dot product of one weight row (cols entries) with x, in float32. */
#if defined(__AVX512F__)
static inline float dot_f32(const float *w, const float *x, int64_t cols) {
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= cols; k += 32) {
        a = _mm512_fmadd_ps(_mm512_loadu_ps(w + k), _mm512_loadu_ps(x + k), a);
        b = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + 16), _mm512_loadu_ps(x + k + 16), b);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
    for (; k < cols; ++k) sum += w[k] * x[k];
    return sum;
}

static inline __m512 widen_bf16(const uint16_t *w) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)w));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

static inline float dot_bf16(const uint16_t *w, const float *x, int64_t cols) {
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= cols; k += 32) {
        a = _mm512_fmadd_ps(widen_bf16(w + k), _mm512_loadu_ps(x + k), a);
        b = _mm512_fmadd_ps(widen_bf16(w + k + 16), _mm512_loadu_ps(x + k + 16), b);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
    for (; k < cols; ++k) {
        uint32_t bits = (uint32_t)w[k] << 16;
        float v;
        memcpy(&v, &bits, sizeof v);
        sum += v * x[k];
    }
    return sum;
}

static inline __m512 widen_int8(const int8_t *w) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)w)));
}

static inline float dot_int8(const int8_t *w, const float *x, int64_t cols) {
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= cols; k += 32) {
        a = _mm512_fmadd_ps(widen_int8(w + k), _mm512_loadu_ps(x + k), a);
        b = _mm512_fmadd_ps(widen_int8(w + k + 16), _mm512_loadu_ps(x + k + 16), b);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
    for (; k < cols; ++k) sum += (float)w[k] * x[k];
    return sum;
}
#else
/* Portable versions: eight running sums, which compilers vectorise for the CPU at hand. */
#define PORTABLE_DOT(name, type, widen)                                                     \
    static inline float name(const type *w, const float *x, int64_t cols) {                 \
        float s[8] = {0};                                                                   \
        int64_t k = 0;                                                                      \
        for (; k + 8 <= cols; k += 8)                                                       \
            for (int j = 0; j < 8; ++j) s[j] += widen(w[k + j]) * x[k + j];                 \
        float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));      \
        for (; k < cols; ++k) sum += widen(w[k]) * x[k];                                    \
        return sum;                                                                         \
    }
static inline float same(float v) { return v; }
static inline float from_bf16(uint16_t v) {
    uint32_t bits = (uint32_t)v << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
static inline float from_int8(int8_t v) { return (float)v; }
PORTABLE_DOT(dot_f32, float, same)
PORTABLE_DOT(dot_bf16, uint16_t, from_bf16)
PORTABLE_DOT(dot_int8, int8_t, from_int8)
#endif

#if defined(__AVX512F__)
/* Four rows' dot products with x at once (x is loaded once for the four); sums[j] = row j . x.
 * cols must be a multiple of 16. */
#define FOUR_ROWS(name, type, widen, step)                                                     \
    static inline void name(const type *w, int64_t cols, const float *x, float *sums) {       \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                           \
        for (int64_t k = 0; k < cols; k += 16) {                                              \
            __m512 v = _mm512_loadu_ps(x + k);                                                \
            a0 = _mm512_fmadd_ps(widen(w + k), v, a0);                                        \
            a1 = _mm512_fmadd_ps(widen(w + cols + k), v, a1);                                 \
            a2 = _mm512_fmadd_ps(widen(w + 2 * cols + k), v, a2);                             \
            a3 = _mm512_fmadd_ps(widen(w + 3 * cols + k), v, a3);                             \
        }                                                                                     \
        sums[0] = _mm512_reduce_add_ps(a0);                                                   \
        sums[1] = _mm512_reduce_add_ps(a1);                                                   \
        sums[2] = _mm512_reduce_add_ps(a2);                                                   \
        sums[3] = _mm512_reduce_add_ps(a3);                                                   \
    }
static inline __m512 widen_f32(const float *w) { return _mm512_loadu_ps(w); }
FOUR_ROWS(four_f32, float, widen_f32, 16)
FOUR_ROWS(four_bf16, uint16_t, widen_bf16, 16)
FOUR_ROWS(four_int8, int8_t, widen_int8, 16)
#define HAVE_FOUR_ROWS 1
#endif

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
/* int8 rows with integer dot products (VNNI): x is written as s_hi * hi + s_lo * lo with hi and
 * lo int16 vectors (lo quantises what hi leaves over, 2^-16 of hi's step), so that
 * W_r . x = s_hi (W_r . hi) + s_lo (W_r . lo) with both sums exact in int32; x is then
 * represented to about 2^-31 of its largest entry, finer than float32 itself. A lane adds two
 * products of at most 127 * 32767 per 32 columns, so int32 holds up to INT8_VNNI_MAX_COLS. */
#define INT8_VNNI_MAX_COLS 8192

static void split_int16(const float *x, int64_t n, int16_t *hi, int16_t *lo, float *s_hi,
                        float *s_lo) {
    float largest = 0.0f;
    for (int64_t k = 0; k < n; ++k) largest = fmaxf(largest, fabsf(x[k]));
    if (largest == 0.0f) {
        memset(hi, 0, n * sizeof *hi);
        memset(lo, 0, n * sizeof *lo);
        *s_hi = *s_lo = 0.0f;
        return;
    }
    float step = largest / 32767.0f, fine = step / 65534.0f;
    for (int64_t k = 0; k < n; ++k) {
        float q = nearbyintf(x[k] / step);
        q = fminf(fmaxf(q, -32767.0f), 32767.0f);
        hi[k] = (int16_t)q;
        float r = nearbyintf((x[k] - q * step) / fine);
        lo[k] = (int16_t)fminf(fmaxf(r, -32767.0f), 32767.0f);
    }
    *s_hi = step;
    *s_lo = fine;
}

/* s_hi * sum(hi lanes) + s_lo * sum(lo lanes), one horizontal sum */
static inline float lanes_to_float(__m512i hi, __m512i lo, __m512 s_hi, __m512 s_lo) {
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(lo), s_lo);
    return _mm512_reduce_add_ps(_mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), s_hi, v));
}

/* y[r] = scale[r] * (W_r . x) for int8 rows, cols a multiple of 32 and at most
 * INT8_VNNI_MAX_COLS. */
static void matvec_int8_vnni(int64_t rows, int64_t cols, const int8_t *weight,
                             const float *scale, const float *x, float *y) {
    int16_t hi[INT8_VNNI_MAX_COLS], lo[INT8_VNNI_MAX_COLS];
    float s_hi, s_lo;
    split_int16(x, cols, hi, lo, &s_hi, &s_lo);
    __m512 vs_hi = _mm512_set1_ps(s_hi), vs_lo = _mm512_set1_ps(s_lo);
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        __m512i h[4], l[4];
        for (int j = 0; j < 4; ++j) h[j] = l[j] = _mm512_setzero_si512();
        for (int64_t k = 0; k < cols; k += 32) {
            __m512i xh = _mm512_loadu_si512(hi + k), xl = _mm512_loadu_si512(lo + k);
            for (int j = 0; j < 4; ++j) {
                const int8_t *row = weight + (r + j) * cols + k;
                __m512i w = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)row));
                h[j] = _mm512_dpwssd_epi32(h[j], w, xh);
                l[j] = _mm512_dpwssd_epi32(l[j], w, xl);
            }
        }
        for (int j = 0; j < 4; ++j)
            y[r + j] = scale[r + j] * lanes_to_float(h[j], l[j], vs_hi, vs_lo);
    }
    for (; r < rows; ++r) {
        __m512i h = _mm512_setzero_si512(), l = _mm512_setzero_si512();
        for (int64_t k = 0; k < cols; k += 32) {
            const int8_t *row = weight + r * cols + k;
            __m512i w = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)row));
            h = _mm512_dpwssd_epi32(h, w, _mm512_loadu_si512(hi + k));
            l = _mm512_dpwssd_epi32(l, w, _mm512_loadu_si512(lo + k));
        }
        y[r] = scale[r] * lanes_to_float(h, l, vs_hi, vs_lo);
    }
}
#define HAVE_INT8_VNNI 1
#endif

/* y = W x (+ bias): W is (rows, cols) row-major in the given weight kind; for int8 each row r is
 * scale[r] times its int8 entries. bias may be NULL. */
void matvec(int64_t kind, int64_t rows, int64_t cols, const void *weight, const float *scale,
            const float *x, const float *bias, float *y) {
    int64_t r = 0;
#if defined(HAVE_INT8_VNNI)
    if (kind == WEIGHTS_INT8 && cols % 32 == 0 && cols <= INT8_VNNI_MAX_COLS) {
        matvec_int8_vnni(rows, cols, (const int8_t *)weight, scale, x, y);
        if (bias)
            for (r = 0; r < rows; ++r) y[r] += bias[r];
        return;
    }
#endif
#if defined(HAVE_FOUR_ROWS)
    if (cols % 16 == 0) {
        for (; r + 4 <= rows; r += 4) {
            if (kind == WEIGHTS_BF16) {
                four_bf16((const uint16_t *)weight + r * cols, cols, x, y + r);
            } else if (kind == WEIGHTS_INT8) {
                four_int8((const int8_t *)weight + r * cols, cols, x, y + r);
                for (int j = 0; j < 4; ++j) y[r + j] *= scale[r + j];
            } else {
                four_f32((const float *)weight + r * cols, cols, x, y + r);
            }
            if (bias)
                for (int j = 0; j < 4; ++j) y[r + j] += bias[r + j];
        }
    }
#endif
    for (; r < rows; ++r) {
        float v;
        if (kind == WEIGHTS_BF16) {
            v = dot_bf16((const uint16_t *)weight + r * cols, x, cols);
        } else if (kind == WEIGHTS_INT8) {
            v = scale[r] * dot_int8((const int8_t *)weight + r * cols, x, cols);
        } else {
            v = dot_f32((const float *)weight + r * cols, x, cols);
        }
        y[r] = bias ? v + bias[r] : v;
    }
}

/* One step of a cell: p = W_hh h (+ recurrent_bias, the GRU's b_hn in its n part), then the
 * update above. h (H) and, for the LSTM, c (H) are updated in place; scratch holds G floats
 * (G = 4H, 3H or H). u is the step's input projection (G). */
void cell_step(int64_t cell, int64_t kind, int64_t hidden, const void *weight_hh,
               const float *scale_hh, const float *recurrent_bias, const float *u, float *h,
               float *c, float *scratch) {
    int64_t H = hidden;
    int64_t gates = cell == CELL_LSTM ? 4 * H : (cell == CELL_GRU ? 3 * H : H);
    matvec(kind, gates, H, weight_hh, scale_hh, h, recurrent_bias, scratch);
    if (cell == CELL_LSTM) {
        for (int64_t j = 0; j < H; ++j) {
            float i = sigmoid(u[j] + scratch[j]);
            float f = sigmoid(u[H + j] + scratch[H + j]);
            float g = tanh_approx(u[2 * H + j] + scratch[2 * H + j]);
            float o = sigmoid(u[3 * H + j] + scratch[3 * H + j]);
            c[j] = f * c[j] + i * g;
            h[j] = o * tanh_approx(c[j]);
        }
    } else if (cell == CELL_GRU) {
        for (int64_t j = 0; j < H; ++j) {
            float r = sigmoid(u[j] + scratch[j]);
            float z = sigmoid(u[H + j] + scratch[H + j]);
            float n = tanh_approx(u[2 * H + j] + r * scratch[2 * H + j]);
            h[j] = n + z * (h[j] - n);
        }
    } else if (cell == CELL_TANH) {
        for (int64_t j = 0; j < H; ++j) h[j] = tanh_approx(u[j] + scratch[j]);
    } else {
        for (int64_t j = 0; j < H; ++j) {
            float a = u[j] + scratch[j];
            h[j] = a > 0.0f ? a : 0.0f;
        }
    }
}
