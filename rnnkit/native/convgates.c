/* The elementwise half of one ConvLSTM or ConvGRU time step, forward and backward, in float32.
 *
 * The two convolutions of a step stay with torch (oneDNN); everything after them (the sum of the
 * input and the recurrent gates, the gate activations, the cell update) is one pass here, where
 * torch would run a dozen kernels, each a full pass over the gates with its own dispatch, and
 * its autograd would keep most of their results for the backward pass. rnnkit/cells/
 * convolutional_kernels.py drives these functions and documents the equations; the names follow
 * it. Every image is (B, channels, P) with P = H * W pixels; a gate tensor holds the gate blocks
 * one after the other along the channels (torch's order, LSTM i, f, g, o; GRU r, z, n).
 *
 * The recurrent gates `q` are contiguous (B, G * C, P). The input gates `u` may be any strided
 * view whose pixels collapse into one stride (`u_sb`, `u_sc`, `u_sp`: batch, channel, pixel), so
 * both the per-step input convolution (contiguous, u_sp = 1) and a step of the batched one (a
 * channels-last view, u_sp = G * C) are read in place.
 */

#include <stddef.h>
#include <stdint.h>

#include "activations.h"

/* The input gate `k`'s channel `ch` of batch row `b`, as a pointer and a pixel stride. */
#define U_AT(k) (u + b * u_sb + ((k) * channels + ch) * u_sc)
#define Q_AT(k) (q + (b * gates + (k)) * channels * pixels + ch * pixels)

/* ConvLSTM, forward:
 *     a          = u + q                       (B, 4C, P; u alone where q is NULL)
 *     i, f, o    = sigmoid(a_i, a_f, a_o); g = tanh(a_g)
 *     c_new      = f c_prev + i g
 *     h_new      = o tanh(c_new)
 * `acts` (the activated gates, B, 4C, P) and `tanh_c` (B, C, P) are written where not NULL
 * (training keeps them for the backward pass; inference passes NULL). */
void conv_lstm_forward(int64_t batch, int64_t channels, int64_t pixels,
                       const float *restrict u, int64_t u_sb, int64_t u_sc, int64_t u_sp,
                       const float *restrict q, const float *restrict c_prev,
                       float *restrict acts, float *restrict tanh_c, float *restrict c_new,
                       float *restrict h_new) {
    const int64_t gates = 4;
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t ch = 0; ch < channels; ++ch) {
            const float *restrict ui = U_AT(0), *restrict uf = U_AT(1);
            const float *restrict ug = U_AT(2), *restrict uo = U_AT(3);
            const float *restrict qi = NULL, *restrict qf = NULL;
            const float *restrict qg = NULL, *restrict qo = NULL;
            if (q) {
                qi = Q_AT(0);
                qf = Q_AT(1);
                qg = Q_AT(2);
                qo = Q_AT(3);
            }
            const int64_t at = (b * channels + ch) * pixels;
            const float *restrict cp = c_prev + at;
            float *restrict cn = c_new + at, *restrict hn = h_new + at;
            float *restrict ai = NULL, *restrict af = NULL, *restrict ag = NULL;
            float *restrict ao = NULL, *restrict tc = NULL;
            if (acts) {
                ai = acts + (b * gates * channels + ch) * pixels;
                af = ai + channels * pixels;
                ag = af + channels * pixels;
                ao = ag + channels * pixels;
                tc = tanh_c + at;
            }
/* Q(x) reads the recurrent gate x at pixel p, or is 0 where there is none. */
#define LSTM_FORWARD_LOOP(STRIDE, Q)                                                            \
    for (int64_t p = 0; p < pixels; ++p) {                                                      \
        const float i = sigmoid(ui[p * (STRIDE)] + Q(qi));                                      \
        const float f = sigmoid(uf[p * (STRIDE)] + Q(qf));                                      \
        const float g = tanh_approx(ug[p * (STRIDE)] + Q(qg));                                  \
        const float o = sigmoid(uo[p * (STRIDE)] + Q(qo));                                      \
        const float c = f * cp[p] + i * g;                                                      \
        const float t = tanh_approx(c);                                                         \
        cn[p] = c;                                                                              \
        hn[p] = o * t;                                                                          \
        if (acts) {                                                                             \
            ai[p] = i;                                                                          \
            af[p] = f;                                                                          \
            ag[p] = g;                                                                          \
            ao[p] = o;                                                                          \
            tc[p] = t;                                                                          \
        }                                                                                       \
    }
#define READ(x) x[p]
#define NONE(x) 0.0f
            if (q && u_sp == 1) {
                LSTM_FORWARD_LOOP(1, READ)
            } else if (q) {
                LSTM_FORWARD_LOOP(u_sp, READ)
            } else if (u_sp == 1) {
                LSTM_FORWARD_LOOP(1, NONE)
            } else {
                LSTM_FORWARD_LOOP(u_sp, NONE)
            }
        }
    }
}

/* ConvLSTM, backward: from dh, dc (the gradients of h_new and c_new, B, C, P), the saved `acts`
 * and `tanh_c`, and c_prev:
 *     dc_total   = dc + dh o (1 - tanh_c^2)
 *     d_a        = (dc_total g i (1 - i), dc_total c_prev f (1 - f), dc_total i (1 - g^2),
 *                   dh tanh_c o (1 - o))       (B, 4C, P): the gradient of both u and q
 *     dc_prev    = dc_total f */
void conv_lstm_backward(int64_t batch, int64_t channels, int64_t pixels,
                        const float *restrict acts, const float *restrict tanh_c,
                        const float *restrict c_prev, const float *restrict dh,
                        const float *restrict dc, float *restrict d_a,
                        float *restrict dc_prev) {
    const int64_t block = channels * pixels;
    for (int64_t b = 0; b < batch; ++b) {
        const float *restrict ai = acts + b * 4 * block, *restrict af = ai + block;
        const float *restrict ag = af + block, *restrict ao = ag + block;
        float *restrict di = d_a + b * 4 * block, *restrict df = di + block;
        float *restrict dg = df + block, *restrict dout = dg + block;
        const int64_t at = b * block;
        const float *restrict tc = tanh_c + at, *restrict cp = c_prev + at;
        const float *restrict dhb = dh + at, *restrict dcb = dc + at;
        float *restrict dcp = dc_prev + at;
        for (int64_t k = 0; k < block; ++k) {
            const float i = ai[k], f = af[k], g = ag[k], o = ao[k], t = tc[k];
            const float dct = dcb[k] + dhb[k] * o * (1.0f - t * t);
            di[k] = dct * g * i * (1.0f - i);
            df[k] = dct * cp[k] * f * (1.0f - f);
            dg[k] = dct * i * (1.0f - g * g);
            dout[k] = dhb[k] * t * o * (1.0f - o);
            dcp[k] = dct * f;
        }
    }
}

/* ConvGRU, forward, with q the recurrent convolution (B, 3C, P) and b_hn (C, or NULL) the part
 * of its bias that stays inside the reset product when the input convolution is batched:
 *     r, z       = sigmoid(u_r + q_r, u_z + q_z)
 *     n          = tanh(u_n + r (q_n + b_hn))
 *     h_new      = n + z (h_prev - n)
 * `acts` (r, z, n: B, 3C, P) is written where not NULL. */
void conv_gru_forward(int64_t batch, int64_t channels, int64_t pixels,
                      const float *restrict u, int64_t u_sb, int64_t u_sc, int64_t u_sp,
                      const float *restrict q, const float *restrict b_hn,
                      const float *restrict h_prev, float *restrict acts,
                      float *restrict h_new) {
    const int64_t gates = 3;
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t ch = 0; ch < channels; ++ch) {
            const float *restrict ur = U_AT(0), *restrict uz = U_AT(1), *restrict un = U_AT(2);
            const float *restrict qr = Q_AT(0), *restrict qz = Q_AT(1), *restrict qn = Q_AT(2);
            const float bn = b_hn ? b_hn[ch] : 0.0f;
            const int64_t at = (b * channels + ch) * pixels;
            const float *restrict hp = h_prev + at;
            float *restrict hn = h_new + at;
            float *restrict ar = NULL, *restrict az = NULL, *restrict an = NULL;
            if (acts) {
                ar = acts + (b * gates * channels + ch) * pixels;
                az = ar + channels * pixels;
                an = az + channels * pixels;
            }
#define GRU_FORWARD_LOOP(STRIDE)                                                                \
    for (int64_t p = 0; p < pixels; ++p) {                                                      \
        const float r = sigmoid(ur[p * (STRIDE)] + qr[p]);                                      \
        const float z = sigmoid(uz[p * (STRIDE)] + qz[p]);                                      \
        const float n = tanh_approx(un[p * (STRIDE)] + r * (qn[p] + bn));                       \
        hn[p] = n + z * (hp[p] - n);                                                            \
        if (acts) {                                                                             \
            ar[p] = r;                                                                          \
            az[p] = z;                                                                          \
            an[p] = n;                                                                          \
        }                                                                                       \
    }
            if (u_sp == 1) {
                GRU_FORWARD_LOOP(1)
            } else {
                GRU_FORWARD_LOOP(u_sp)
            }
        }
    }
}

/* ConvGRU, backward: from dh (the gradient of h_new, B, C, P), the saved `acts`, q, b_hn and
 * h_prev:
 *     d_an       = dh (1 - z) (1 - n^2)
 *     d_u        = (d_an (q_n + b_hn) r (1 - r), dh (h_prev - n) z (1 - z), d_an)
 *     d_q        = d_u with its n block times r  (B, 3C, P each)
 *     dh_prev    = dh z                         (the direct part; the convolution's is torch's) */
void conv_gru_backward(int64_t batch, int64_t channels, int64_t pixels,
                       const float *restrict acts, const float *restrict q,
                       const float *restrict b_hn, const float *restrict h_prev,
                       const float *restrict dh, float *restrict d_u, float *restrict d_q,
                       float *restrict dh_prev) {
    const int64_t block = channels * pixels;
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t ch = 0; ch < channels; ++ch) {
            const int64_t row = b * 3 * block + ch * pixels, at = (b * channels + ch) * pixels;
            const float *restrict ar = acts + row, *restrict az = ar + block;
            const float *restrict an = az + block;
            const float *restrict qn = q + row + 2 * block;
            float *restrict dur = d_u + row, *restrict duz = dur + block;
            float *restrict dun = duz + block;
            float *restrict dqr = d_q + row, *restrict dqz = dqr + block;
            float *restrict dqn = dqz + block;
            const float bn = b_hn ? b_hn[ch] : 0.0f;
            const float *restrict hp = h_prev + at, *restrict dhb = dh + at;
            float *restrict dhp = dh_prev + at;
            for (int64_t p = 0; p < pixels; ++p) {
                const float r = ar[p], z = az[p], n = an[p], d = dhb[p];
                const float d_an = d * (1.0f - z) * (1.0f - n * n);
                const float d_ar = d_an * (qn[p] + bn) * r * (1.0f - r);
                const float d_az = d * (hp[p] - n) * z * (1.0f - z);
                dur[p] = d_ar;
                duz[p] = d_az;
                dun[p] = d_an;
                dqr[p] = d_ar;
                dqz[p] = d_az;
                dqn[p] = d_an * r;
                dhp[p] = d * z;
            }
        }
    }
}
