/* One recurrent step at batch 1, for generation: matrix-vector products with float32, bfloat16 or
 * int8 weights, and the LSTM, GRU and Elman updates after them, in float32.
 *
 * At batch 1 a step reads every weight once and does two flops with it, so its speed is the
 * speed at which the weights stream from cache or memory. Storing them in fewer bytes (bfloat16:
 * 2, int8 with a scale per row: 1) is what makes a step faster. The weights are widened to
 * float32 exactly and the vector x stays float32, so every kind computes what float32 weights
 * holding the rounded values compute, up to float32's rounding of the sums (int8 rows on CPUs
 * with AVX512-VNNI: integer products against x in 24-bit fixed point, an error of the same size;
 * see four_int8_vnni). With AVX-512 rows go in blocks of four with the next block prefetched;
 * elsewhere portable loops that compilers vectorise. rnnkit/native/stepping.py binds these functions and rnnkit/models/stepping.py
 * drives them. Gate orders follow torch (LSTM i, f, g, o; GRU r, z, n with the reset after the
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
/* Blocks of four rows, y[j] = row j . x for j < 4: x is loaded once for the four rows, and while
 * a block streams, the same columns of the next block's rows are prefetched (about 4 rows ahead),
 * which keeps enough cache-line requests in flight for the loads to run at the speed memory
 * delivers them (measured: 2-10% faster for float32 and bfloat16, about 35% for int8, whose
 * widening leaves the hardware prefetcher behind). */

static inline void prefetch_next(const void *row, int64_t block_bytes) {
    _mm_prefetch((const char *)row + block_bytes, _MM_HINT_T0);
}

/* float32 rows, cols a multiple of 16 (one cache line of weights per row and 16 columns). */
static inline void four_f32(const float *w, int64_t cols, const float *x, float *y) {
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
    for (int64_t k = 0; k < cols; k += 16) {
        __m512 v = _mm512_loadu_ps(x + k);
        for (int j = 0; j < 4; ++j) {
            prefetch_next(w + j * cols + k, 16 * cols);
            a[j] = _mm512_fmadd_ps(_mm512_loadu_ps(w + j * cols + k), v, a[j]);
        }
    }
    for (int j = 0; j < 4; ++j) y[j] = _mm512_reduce_add_ps(a[j]);
}

/* bfloat16 rows, cols a multiple of 32, against x split into its even and odd columns (x_even[i]
 * = x[32 b + 2 i], x_odd[i] = x[32 b + 2 i + 1] for block b of 32 columns). 32 weights are one
 * 64-byte load, read as 16 32-bit lanes: a lane's low half is the even column's bfloat16, its high
 * half the odd one's, so a shift left by 16 gives the even columns as float32 and masking off the
 * low half the odd ones; two instructions widen 32 weights, exactly (bfloat16 is float32's upper
 * half). x stays float32: the products and sums are those of float32 weights holding the
 * bfloat16 values. (AVX512-BF16's dot product instruction would need x rounded to bfloat16 too,
 * and measured no faster here.) */
static inline void four_bf16(const uint16_t *w, int64_t cols, const float *x_even,
                             const float *x_odd, float *y) {
    const __m512i high = _mm512_set1_epi32((int32_t)0xFFFF0000u);
    __m512 even[4], odd[4];
    for (int j = 0; j < 4; ++j) even[j] = odd[j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < cols; k += 32) {
        __m512 ve = _mm512_loadu_ps(x_even + k / 2), vo = _mm512_loadu_ps(x_odd + k / 2);
        for (int j = 0; j < 4; ++j) {
            prefetch_next(w + j * cols + k, 8 * cols);
            __m512i pairs = _mm512_loadu_si512(w + j * cols + k);
            __m512 e = _mm512_castsi512_ps(_mm512_slli_epi32(pairs, 16));
            __m512 o = _mm512_castsi512_ps(_mm512_and_si512(pairs, high));
            even[j] = _mm512_fmadd_ps(e, ve, even[j]);
            odd[j] = _mm512_fmadd_ps(o, vo, odd[j]);
        }
    }
    for (int j = 0; j < 4; ++j) y[j] = _mm512_reduce_add_ps(_mm512_add_ps(even[j], odd[j]));
}

/* int8 rows, cols a multiple of 64 (one cache line per row and 64 columns): each 16 weights
 * widened to float32 exactly, then multiplied by x in float32; the caller applies the scales. */
static inline void four_int8(const int8_t *w, int64_t cols, const float *x, float *y) {
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
    for (int64_t k = 0; k < cols; k += 64) {
        for (int j = 0; j < 4; ++j) prefetch_next(w + j * cols + k, 4 * cols);
        for (int64_t q = k; q < k + 64; q += 16) {
            __m512 v = _mm512_loadu_ps(x + q);
            for (int j = 0; j < 4; ++j) a[j] = _mm512_fmadd_ps(widen_int8(w + j * cols + q), v, a[j]);
        }
    }
    for (int j = 0; j < 4; ++j) y[j] = _mm512_reduce_add_ps(a[j]);
}

#if defined(__AVX512VNNI__)
/* int8 rows with integer dot products (AVX512-VNNI), about 20% faster than widening them to
 * float32: x is written in 24-bit fixed point, x_k ~ step (q_k - 2^23) with step = max|x| /
 * (2^23 - 1) and q_k = round(x_k / step) + 2^23 in [0, 2^24), stored as three unsigned bytes
 * q = b0 + 2^8 b1 + 2^16 b2. One vpdpbusd adds four products of such bytes with int8 weights into
 * each int32 lane, exactly, so
 *     W_r . x ~ step (S0 + 2^8 S1 + 2^16 S2 - 2^23 S1s),   S_i = W_r . b_i,  S1s = W_r . 1,
 * summed exactly in int64 and rounded once. Each x_k is off by at most step / 2 = max|x| 2^-24 (as
 * if float32 held x in the scale of its largest entry), so the row's sum by at most
 * max|x| 2^-24 sum_k |w_rk|. A row's products sum to at most 255 * 127 * cols, so int32 would
 * hold 65536 columns; VNNI_MAX_COLS keeps the bytes' buffers small on the stack. */
#define VNNI_MAX_COLS 4096

/* x's three bytes per column as above; returns 0 (x not finite: use the float32 path) or 1. */
static int fixed_point_bytes(const float *x, int64_t n, uint8_t *b0, uint8_t *b1, uint8_t *b2,
                             float *step) {
    float largest = 0.0f;
    for (int64_t k = 0; k < n; ++k) {
        if (!isfinite(x[k])) return 0;
        largest = fmaxf(largest, fabsf(x[k]));
    }
    *step = largest > 0.0f ? largest / 8388607.0f : 1.0f;
    for (int64_t k = 0; k < n; ++k) {
        /* x_k / step may round just past 2^23 - 1 for the largest entry: clamp */
        float v = fminf(fmaxf(nearbyintf(x[k] / *step), -8388607.0f), 8388607.0f);
        int32_t q = (int32_t)v + 8388608;
        b0[k] = (uint8_t)(q & 255);
        b1[k] = (uint8_t)((q >> 8) & 255);
        b2[k] = (uint8_t)(q >> 16);
    }
    return 1;
}

/* y[j] = row j . x for four int8 rows (cols a multiple of 64), x as fixed_point_bytes wrote it;
 * the caller applies the scales. */
static inline void four_int8_vnni(const int8_t *w, int64_t cols, const uint8_t *b0,
                                  const uint8_t *b1, const uint8_t *b2, float step, float *y) {
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i s[4][4];
    for (int j = 0; j < 4; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = _mm512_setzero_si512();
    for (int64_t k = 0; k < cols; k += 64) {
        __m512i x0 = _mm512_loadu_si512(b0 + k), x1 = _mm512_loadu_si512(b1 + k);
        __m512i x2 = _mm512_loadu_si512(b2 + k);
        for (int j = 0; j < 4; ++j) {
            prefetch_next(w + j * cols + k, 4 * cols);
            __m512i weights = _mm512_loadu_si512(w + j * cols + k);
            s[j][0] = _mm512_dpbusd_epi32(s[j][0], x0, weights);
            s[j][1] = _mm512_dpbusd_epi32(s[j][1], x1, weights);
            s[j][2] = _mm512_dpbusd_epi32(s[j][2], x2, weights);
            s[j][3] = _mm512_dpbusd_epi32(s[j][3], ones, weights);
        }
    }
    for (int j = 0; j < 4; ++j) {
        int64_t total = (int64_t)_mm512_reduce_add_epi32(s[j][0]) +
                        ((int64_t)_mm512_reduce_add_epi32(s[j][1]) << 8) +
                        ((int64_t)_mm512_reduce_add_epi32(s[j][2]) << 16) -
                        ((int64_t)_mm512_reduce_add_epi32(s[j][3]) << 23);
        y[j] = (float)((double)total * step);
    }
}
#define HAVE_INT8_VNNI 1
#endif

/* Largest cols for which matvec splits x into even and odd columns on the stack (wider rows take
 * the one-row loop). */
#define SPLIT_MAX_COLS 4096

/* The row blocks of matvec (rows r < rows - rows % 4) where the weight kind and cols allow;
 * returns the first row left to the one-row loop. */
static int64_t matvec_blocks(int64_t kind, int64_t rows, int64_t cols, const void *weight,
                             const float *scale, const float *x, float *y) {
    int64_t r = 0;
    if (kind == WEIGHTS_F32 && cols % 16 == 0) {
        for (; r + 4 <= rows; r += 4) four_f32((const float *)weight + r * cols, cols, x, y + r);
    } else if (kind == WEIGHTS_BF16 && cols % 32 == 0 && cols <= SPLIT_MAX_COLS) {
        float x_even[SPLIT_MAX_COLS / 2], x_odd[SPLIT_MAX_COLS / 2];
        for (int64_t k = 0; k < cols; k += 32)
            for (int i = 0; i < 16; ++i) {
                x_even[k / 2 + i] = x[k + 2 * i];
                x_odd[k / 2 + i] = x[k + 2 * i + 1];
            }
        for (; r + 4 <= rows; r += 4)
            four_bf16((const uint16_t *)weight + r * cols, cols, x_even, x_odd, y + r);
    } else if (kind == WEIGHTS_INT8 && cols % 64 == 0) {
#if defined(HAVE_INT8_VNNI)
        uint8_t b0[VNNI_MAX_COLS], b1[VNNI_MAX_COLS], b2[VNNI_MAX_COLS];
        float step;
        if (cols <= VNNI_MAX_COLS && fixed_point_bytes(x, cols, b0, b1, b2, &step)) {
            for (; r + 4 <= rows; r += 4) {
                four_int8_vnni((const int8_t *)weight + r * cols, cols, b0, b1, b2, step, y + r);
                for (int j = 0; j < 4; ++j) y[r + j] *= scale[r + j];
            }
            return r;
        }
#endif
        for (; r + 4 <= rows; r += 4) {
            four_int8((const int8_t *)weight + r * cols, cols, x, y + r);
            for (int j = 0; j < 4; ++j) y[r + j] *= scale[r + j];
        }
    }
    return r;
}
#define HAVE_BLOCKS 1
#endif

/* y = W x (+ bias): W is (rows, cols) row-major in the given weight kind; for int8 each row r is
 * scale[r] times its int8 entries. bias may be NULL. */
void matvec(int64_t kind, int64_t rows, int64_t cols, const void *weight, const float *scale,
            const float *x, const float *bias, float *y) {
    int64_t r = 0;
#if defined(HAVE_BLOCKS)
    r = matvec_blocks(kind, rows, cols, weight, scale, x, y);
#endif
    for (; r < rows; ++r) {
        if (kind == WEIGHTS_BF16) {
            y[r] = dot_bf16((const uint16_t *)weight + r * cols, x, cols);
        } else if (kind == WEIGHTS_INT8) {
            y[r] = scale[r] * dot_int8((const int8_t *)weight + r * cols, x, cols);
        } else {
            y[r] = dot_f32((const float *)weight + r * cols, x, cols);
        }
    }
    if (bias)
        for (r = 0; r < rows; ++r) y[r] += bias[r];
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

/* A whole step in one call: `count` calls of matvec or cell_step, each a row of PROGRAM_WIDTH
 * int64 (the operation, then the function's arguments in order, pointers as integers, 0 for
 * NULL, unused slots 0). The first call's argument at token_slot (an index into its row) is
 * replaced by token_pointer: the current token's table or embedding row. Calling the kernel once
 * per step instead of once per layer saves the per-call cost of the binding (measured 5-9% of a
 * 2 x 512 LSTM step). */
enum { OP_MATVEC = 0, OP_CELL_STEP = 1, PROGRAM_WIDTH = 11 };

void run_program(int64_t count, const int64_t *program, int64_t token_slot,
                 int64_t token_pointer) {
    for (int64_t i = 0; i < count; ++i) {
        int64_t a[PROGRAM_WIDTH];
        memcpy(a, program + i * PROGRAM_WIDTH, sizeof a);
        if (i == 0) a[token_slot] = token_pointer;
        if (a[0] == OP_MATVEC)
            matvec(a[1], a[2], a[3], (const void *)(intptr_t)a[4], (const float *)(intptr_t)a[5],
                   (const float *)(intptr_t)a[6], (const float *)(intptr_t)a[7],
                   (float *)(intptr_t)a[8]);
        else
            cell_step(a[1], a[2], a[3], (const void *)(intptr_t)a[4],
                      (const float *)(intptr_t)a[5], (const float *)(intptr_t)a[6],
                      (const float *)(intptr_t)a[7], (float *)(intptr_t)a[8],
                      (float *)(intptr_t)a[9], (float *)(intptr_t)a[10]);
    }
}

/* A token drawn from softmax(logits / temperature) (n logits, temperature > 0) with the uniform
 * *uniform in [0, 1), by inverse CDF as rnnkit.decoding.sample_next draws it: the first index whose
 * running sum of exp(logit / T - max) exceeds u times the total, or, where u times the total
 * rounds up to the total, the last token with a non-zero probability (a zero-probability token
 * is never drawn). torch computes the same sums with its own exp and normalisation, so the two
 * draw the same token unless u falls within float32 rounding of a boundary of the CDF. After a
 * step has streamed megabytes of weights through the caches, this one call takes a few
 * microseconds where the handful of torch operations of the draw take tens. */
void draw_token(const float *logits, int64_t n, const float *temperature, const float *uniform,
                int64_t *token) {
    float t = *temperature, largest = -INFINITY, total = 0.0f;
    for (int64_t i = 0; i < n; ++i) largest = fmaxf(largest, logits[i] / t);
    for (int64_t i = 0; i < n; ++i) total += expf(logits[i] / t - largest);
    float target = *uniform * total, running = 0.0f;
    int64_t last_positive = 0;
    for (int64_t i = 0; i < n; ++i) {
        float p = expf(logits[i] / t - largest);
        running += p;
        if (p > 0.0f) last_positive = i;
        if (running > target) {
            *token = i;
            return;
        }
    }
    *token = last_positive;
}
