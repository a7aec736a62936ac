/* Branch-free float32 activations that compilers vectorise: exp, sigmoid and tanh for the
 * native kernels' elementwise loops (libm's expf and tanhf are calls the loops cannot vectorise).
 */

#ifndef RNNKIT_ACTIVATIONS_H
#define RNNKIT_ACTIVATIONS_H

#include <math.h>
#include <stdint.h>

/* exp(x) for float32: range reduction to r in [-ln2/2, ln2/2], Cephes' degree-6 polynomial,
 * and the power of two put into the exponent bits. Relative error about 2e-7; branch-free, so
 * the compiler vectorises the loops that call it. */
static inline float exp_approx(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float poly = 1.9875691500e-4f;
    poly = poly * r + 1.3981999507e-3f;
    poly = poly * r + 8.3334519073e-3f;
    poly = poly * r + 4.1665795894e-2f;
    poly = poly * r + 1.6666665459e-1f;
    poly = poly * r + 5.0000001201e-1f;
    poly = poly * r * r + r + 1.0f;
    union { int32_t i; float f; } scale;
    scale.i = ((int32_t)n + 127) << 23;
    return poly * scale.f;
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

static inline float tanh_approx(float x) { return 2.0f / (1.0f + exp_approx(-2.0f * x)) - 1.0f; }

#endif
