/* One time step of the layer-normalised LSTM and GRU (Ba et al. 2016), forward and backward, in
 * float32.
 *
 * The recurrent matrix product p = W_hh h_{t-1} stays with torch (a BLAS call); everything after
 * it in a step is a handful of passes over each batch row that torch would run as a dozen
 * separate kernels, each a full pass over memory with its own dispatch. Here every row is
 * finished in one go while it sits in cache. rnnkit/cells/layernorm.py drives these functions
 * and documents the equations; the names follow it. With u the normalised input product:
 *
 * LSTM (G = 4H, gates i, f, g, o):
 *     a      = LN(p; gain_hh, bias_hh) + u
 *     i, f, o = sigmoid(a_i, a_f, a_o); g = tanh(a_g)
 *     c_t    = f c_{t-1} + i g
 *     h_t    = o tanh(LN(c_t; gain_c, bias_c))
 * GRU (G = 3H, gates r, z, n), with q = LN(p; gain_hh, bias_hh):
 *     r, z   = sigmoid(u_r + q_r, u_z + q_z)
 *     n      = tanh(u_n + r q_n)
 *     h_t    = n + z (h_{t-1} - n)
 * A row whose mask is 0 (padding) carries its state over unchanged.
 */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "activations.h"

/* Sums over a row run on LANES-wide vectors (GCC/Clang vector extensions, split by the compiler
 * into whatever registers the CPU has): a running float sum could not be vectorised and would lose
 * accuracy over a 1024-wide row. The vector's lanes, and the row's tail, are added up in double. */
#define LANES 16
typedef float vfloat __attribute__((vector_size(LANES * sizeof(float))));

static inline vfloat load(const float *x) {
    vfloat v;
    memcpy(&v, x, sizeof v);
    return v;
}

static inline double lane_sum(vfloat v) {
    double sum = 0.0;
    for (int j = 0; j < LANES; ++j) sum += v[j];
    return sum;
}

/* Mean and 1 / sqrt(biased variance + eps) of n numbers (two passes, as torch's layer norm). */
static void row_stats(const float *restrict x, int64_t n, float eps, float *restrict mean,
                      float *restrict rstd) {
    vfloat lanes = {0.0f};
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES) lanes += load(x + k);
    double sum = lane_sum(lanes);
    for (; k < n; ++k) sum += x[k];
    float m = (float)(sum / (double)n);
    vfloat squares = {0.0f};
    for (k = 0; k + LANES <= n; k += LANES) {
        vfloat d = load(x + k) - m;
        squares += d * d;
    }
    double total = lane_sum(squares);
    for (; k < n; ++k) total += (x[k] - m) * (x[k] - m);
    *mean = m;
    *rstd = (float)(1.0 / sqrt(total / (double)n + eps));
}

/* y = LN(x; gain, shift) over n numbers (shift may be NULL); stores the row's mean and rstd. */
static void layer_norm_row(const float *restrict x, int64_t n, const float *restrict gain,
                           const float *restrict shift, float eps, float *restrict mean,
                           float *restrict rstd, float *restrict y) {
    float m, r;
    row_stats(x, n, eps, &m, &r);
    *mean = m;
    *rstd = r;
    for (int64_t k = 0; k < n; ++k) y[k] = gain[k] * (x[k] - m) * r + (shift ? shift[k] : 0.0f);
}

/* d LN(x) / d x applied to dy (gain included, the gain and shift gradients left out):
 * dx = rstd * (gain dy - mean(gain dy) - xhat * mean(gain dy xhat)), xhat = (x - mean) rstd.
 * dx must not overlap dy. */
static void layer_norm_input_grad(const float *restrict dy, const float *restrict x,
                                  const float *restrict gain, float mean, float rstd, int64_t n,
                                  float *restrict dx) {
    vfloat lanes = {0.0f}, xhat_lanes = {0.0f};
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES) {
        vfloat g = load(dy + k) * load(gain + k);
        lanes += g;
        xhat_lanes += g * ((load(x + k) - mean) * rstd);
    }
    double sum = lane_sum(lanes), sum_xhat = lane_sum(xhat_lanes);
    for (; k < n; ++k) {
        float g = dy[k] * gain[k];
        sum += g;
        sum_xhat += g * (x[k] - mean) * rstd;
    }
    float mean_g = (float)(sum / (double)n), mean_g_xhat = (float)(sum_xhat / (double)n);
    for (int64_t i = 0; i < n; ++i) {
        float xhat = (x[i] - mean) * rstd;
        dx[i] = rstd * (dy[i] * gain[i] - mean_g - xhat * mean_g_xhat);
    }
}

/* Adds this row's share of the gain and shift gradients of y = LN(x; gain, shift):
 * d_gain += dy * xhat, d_shift += dy (d_shift may be NULL). */
static void layer_norm_param_grads(const float *restrict dy, const float *restrict x, float mean,
                                   float rstd, int64_t n, float *restrict d_gain,
                                   float *restrict d_shift) {
    for (int64_t k = 0; k < n; ++k) d_gain[k] += dy[k] * ((x[k] - mean) * rstd);
    if (d_shift)
        for (int64_t k = 0; k < n; ++k) d_shift[k] += dy[k];
}

/* Forward step for all B rows. Row strides: p, acts G; u u_stride; out out_stride; states H.
 * Writes acts (sigmoid i, sigmoid f, tanh g, sigmoid o), mean_p/rstd_p (B), c_new, tanh_cn
 * (tanh LN(c_t)), mean_c/rstd_c (B), h_new, and out: h_t again, or 0 in a padded row (the
 * layer's output). bias_hh, bias_c, mask may be NULL. */
void ln_lstm_forward_step(int64_t batch, int64_t hidden, const float *restrict p, const float *restrict u,
                          int64_t u_stride, const float *restrict gain_hh, const float *restrict bias_hh,
                          const float *restrict gain_c, const float *restrict bias_c, const float *restrict h_prev,
                          const float *restrict c_prev, const uint8_t *restrict mask, float eps, float *restrict acts,
                          float *restrict mean_p, float *restrict rstd_p, float *restrict c_new, float *restrict tanh_cn,
                          float *restrict mean_c, float *restrict rstd_c, float *restrict h_new,
                          float *restrict out, int64_t out_stride) {
    const int64_t H = hidden, G = 4 * hidden;
    for (int64_t b = 0; b < batch; ++b) {
        const float *p_b = p + b * G, *u_b = u + b * u_stride;
        const float *h0 = h_prev + b * H, *c0 = c_prev + b * H;
        float *a = acts + b * G, *c1 = c_new + b * H, *tc = tanh_cn + b * H, *h1 = h_new + b * H;
        float *y = out + b * out_stride;
        layer_norm_row(p_b, G, gain_hh, bias_hh, eps, &mean_p[b], &rstd_p[b], a);
        for (int64_t k = 0; k < G; ++k) a[k] += u_b[k];
        for (int64_t k = 0; k < 2 * H; ++k) a[k] = sigmoid(a[k]);
        for (int64_t k = 2 * H; k < 3 * H; ++k) a[k] = tanh_approx(a[k]);
        for (int64_t k = 3 * H; k < G; ++k) a[k] = sigmoid(a[k]);
        const float *i = a, *f = a + H, *g = a + 2 * H, *o = a + 3 * H;
        for (int64_t k = 0; k < H; ++k) c1[k] = f[k] * c0[k] + i[k] * g[k];
        layer_norm_row(c1, H, gain_c, bias_c, eps, &mean_c[b], &rstd_c[b], tc);
        for (int64_t k = 0; k < H; ++k) {
            tc[k] = tanh_approx(tc[k]);
            h1[k] = y[k] = o[k] * tc[k];
        }
        if (mask && !mask[b]) {
            for (int64_t k = 0; k < H; ++k) {
                h1[k] = h0[k];
                c1[k] = c0[k];
                y[k] = 0.0f;
            }
        }
    }
}

/* Backward step for all B rows. dh: the whole gradient reaching h_t (its output's and the
 * recurrence's); dc: the gradient reaching c_t from step t + 1. Writes grad_u (d a, row stride
 * grad_u_stride), grad_rec (d p), dc_prev (reaching c_{t-1}) and dh_carry (the part of dh that
 * reaches h_{t-1} directly: all of it in a padded row, none in a real one), and adds the step's
 * share to the gradients of both layer norms' gains and shifts (d_bias_hh, d_bias_c may be NULL). */
void ln_lstm_backward_step(int64_t batch, int64_t hidden, const float *restrict dh, const float *restrict dc,
                           const float *restrict acts, const float *restrict p, const float *restrict mean_p,
                           const float *restrict rstd_p, const float *restrict gain_hh, const float *restrict c_prev,
                           const float *restrict c_t, const float *restrict tanh_cn, const float *restrict mean_c,
                           const float *restrict rstd_c, const float *restrict gain_c, const uint8_t *restrict mask,
                           float *restrict grad_u, int64_t grad_u_stride, float *restrict grad_rec,
                           float *restrict dc_prev, float *restrict dh_carry, float *restrict d_gain_hh,
                           float *restrict d_bias_hh, float *restrict d_gain_c, float *restrict d_bias_c) {
    const int64_t H = hidden, G = 4 * hidden;
    float dcn[H]; /* d LN(c_t) of one row */
    for (int64_t b = 0; b < batch; ++b) {
        const float *dh_b = dh + b * H, *dc_b = dc + b * H;
        float *du = grad_u + b * grad_u_stride, *dp = grad_rec + b * G;
        float *dc0 = dc_prev + b * H, *carry = dh_carry + b * H;
        if (mask && !mask[b]) {
            for (int64_t k = 0; k < G; ++k) du[k] = dp[k] = 0.0f;
            for (int64_t k = 0; k < H; ++k) {
                dc0[k] = dc_b[k];
                carry[k] = dh_b[k];
            }
            continue;
        }
        const float *a = acts + b * G, *tc = tanh_cn + b * H;
        const float *i = a, *f = a + H, *g = a + 2 * H, *o = a + 3 * H;
        const float *c0 = c_prev + b * H, *c1 = c_t + b * H;
        float *du_i = du, *du_f = du + H, *du_g = du + 2 * H, *du_o = du + 3 * H;
        for (int64_t k = 0; k < H; ++k) {
            dcn[k] = dh_b[k] * o[k] * (1.0f - tc[k] * tc[k]);
            du_o[k] = dh_b[k] * tc[k] * o[k] * (1.0f - o[k]);
        }
        /* dc0 holds d c_t for now: through LN(c_t), plus what reached c_t from step t + 1 */
        layer_norm_input_grad(dcn, c1, gain_c, mean_c[b], rstd_c[b], H, dc0);
        layer_norm_param_grads(dcn, c1, mean_c[b], rstd_c[b], H, d_gain_c, d_bias_c);
        for (int64_t k = 0; k < H; ++k) {
            float d = dc0[k] + dc_b[k];
            du_i[k] = d * g[k] * i[k] * (1.0f - i[k]);
            du_f[k] = d * c0[k] * f[k] * (1.0f - f[k]);
            du_g[k] = d * i[k] * (1.0f - g[k] * g[k]);
            dc0[k] = d * f[k];
            carry[k] = 0.0f;
        }
        layer_norm_input_grad(du, p + b * G, gain_hh, mean_p[b], rstd_p[b], G, dp);
        layer_norm_param_grads(du, p + b * G, mean_p[b], rstd_p[b], G, d_gain_hh, d_bias_hh);
    }
}

/* GRU forward step for all B rows. Row strides: p, acts G = 3H; u u_stride; out out_stride;
 * q_n, states H. Writes acts (r, z, n), q_n (the n block of LN(p), which the reset gate scales),
 * mean_p/rstd_p (B), h_new, and out: h_t again, or 0 in a padded row (the layer's output).
 * bias_hh and mask may be NULL. */
void ln_gru_forward_step(int64_t batch, int64_t hidden, const float *restrict p, const float *restrict u,
                         int64_t u_stride, const float *restrict gain_hh, const float *restrict bias_hh,
                         const float *restrict h_prev, const uint8_t *restrict mask, float eps, float *restrict acts,
                         float *restrict q_n, float *restrict mean_p, float *restrict rstd_p, float *restrict h_new,
                         float *restrict out, int64_t out_stride) {
    const int64_t H = hidden, G = 3 * hidden;
    for (int64_t b = 0; b < batch; ++b) {
        const float *p_b = p + b * G, *u_b = u + b * u_stride, *h0 = h_prev + b * H;
        float *a = acts + b * G, *qn = q_n + b * H, *h1 = h_new + b * H, *y = out + b * out_stride;
        layer_norm_row(p_b, G, gain_hh, bias_hh, eps, &mean_p[b], &rstd_p[b], a); /* q = LN(p) */
        for (int64_t k = 0; k < 2 * H; ++k) a[k] = sigmoid(a[k] + u_b[k]);
        const float *r = a, *z = a + H;
        float *n = a + 2 * H;
        for (int64_t k = 0; k < H; ++k) {
            qn[k] = n[k];
            n[k] = tanh_approx(u_b[2 * H + k] + r[k] * qn[k]);
            h1[k] = y[k] = n[k] + z[k] * (h0[k] - n[k]);
        }
        if (mask && !mask[b]) {
            for (int64_t k = 0; k < H; ++k) {
                h1[k] = h0[k];
                y[k] = 0.0f;
            }
        }
    }
}

/* GRU backward step for all B rows. dh: the whole gradient reaching h_t; g_prev: the gradient
 * of output t - 1 (row stride g_stride), added to what reaches h_{t-1} directly (NULL for none).
 * Writes grad_u (d u, row stride grad_u_stride), grad_rec (d p) and direct: what reaches h_{t-1}
 * other than through W_hh, dh z in a real row, all of dh in a padded one, plus g_prev; and adds
 * the step's share to the gradients of the layer norm's gain and shift (d_bias_hh may be NULL). */
void ln_gru_backward_step(int64_t batch, int64_t hidden, const float *restrict dh, const float *restrict acts,
                          const float *restrict q_n, const float *restrict p, const float *restrict mean_p,
                          const float *restrict rstd_p, const float *restrict gain_hh, const float *restrict h_prev,
                          const float *restrict g_prev, int64_t g_stride, const uint8_t *restrict mask,
                          float *restrict grad_u, int64_t grad_u_stride, float *restrict grad_rec,
                          float *restrict direct, float *restrict d_gain_hh, float *restrict d_bias_hh) {
    const int64_t H = hidden, G = 3 * hidden;
    float dq[G]; /* d LN(p) of one row */
    for (int64_t b = 0; b < batch; ++b) {
        const float *dh_b = dh + b * H, *g_b = g_prev ? g_prev + b * g_stride : NULL;
        float *du = grad_u + b * grad_u_stride, *dp = grad_rec + b * G;
        float *d_direct = direct + b * H;
        if (mask && !mask[b]) {
            for (int64_t k = 0; k < G; ++k) du[k] = dp[k] = 0.0f;
            for (int64_t k = 0; k < H; ++k) d_direct[k] = dh_b[k] + (g_b ? g_b[k] : 0.0f);
            continue;
        }
        const float *a = acts + b * G, *qn = q_n + b * H, *h0 = h_prev + b * H;
        const float *r = a, *z = a + H, *n = a + 2 * H;
        for (int64_t k = 0; k < H; ++k) {
            float d_n = dh_b[k] * (1.0f - z[k]) * (1.0f - n[k] * n[k]); /* d (u_n + r q_n) */
            float d_z = dh_b[k] * (h0[k] - n[k]) * z[k] * (1.0f - z[k]);
            float d_r = d_n * qn[k] * r[k] * (1.0f - r[k]);
            du[k] = dq[k] = d_r;
            du[H + k] = dq[H + k] = d_z;
            du[2 * H + k] = d_n;
            dq[2 * H + k] = d_n * r[k];
            d_direct[k] = dh_b[k] * z[k] + (g_b ? g_b[k] : 0.0f);
        }
        layer_norm_input_grad(dq, p + b * G, gain_hh, mean_p[b], rstd_p[b], G, dp);
        layer_norm_param_grads(dq, p + b * G, mean_p[b], rstd_p[b], G, d_gain_hh, d_bias_hh);
    }
}
