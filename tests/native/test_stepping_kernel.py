"""The batch-1 stepping kernel (rnnkit/native/stepping.c) against NumPy.

Every test runs on two builds: the one rnnkit uses (``-march=native``: on a CPU with AVX-512 the
four-row blocks with prefetching) and a portable one built without ``-march`` (the plain loops
every other CPU gets), so that the fall-back is checked here too and not only where it runs.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from rnnkit import native
from rnnkit.native import stepping

pytestmark = pytest.mark.skipif(
    stepping.kernel() is None, reason="the stepping kernel could not be built"
)


@pytest.fixture(scope="module", params=["native", "portable"])
def kernel(request, tmp_path_factory) -> Iterator[ctypes.CDLL]:
    """The kernel as rnnkit builds it, or built without ``-march=native`` into a scratch cache."""
    if request.param == "native":
        yield stepping.kernel()
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNKIT_CACHE_DIR", str(tmp_path_factory.mktemp("portable")))
        patch.setattr(native, "_FLAGS", [f for f in native._FLAGS if not f.startswith("-march")])
        native._load.cache_clear()
        try:
            library = native.bind("stepping", stepping._SIGNATURES)
        finally:
            native._load.cache_clear()  # later loads get rnnkit's own build again
    if library is None:
        pytest.skip("the portable build failed here")
    yield library


def bf16_values(weight: torch.Tensor) -> np.ndarray:
    """bfloat16 rounding by hand: round-to-nearest-even on the top 16 bits of the float32."""
    bits = weight.numpy().view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return rounded.astype(np.uint32).view(np.float32)


@pytest.mark.parametrize("weights", ["float32", "bf16", "int8"])
@pytest.mark.parametrize(
    ("rows", "cols"),
    # odd shapes (one row at a time), and shapes whose rows go in blocks of four for one, two or
    # all three weight kinds (cols a multiple of 16, 32, 64), with rows left over after them; and
    # rows wider than the kernel's stack buffers for x (4096 columns)
    [(13, 37), (4, 33), (7, 16), (6, 96), (9, 128), (64, 512), (2050, 512), (5, 4160)],
)
def test_matvec_equals_numpy(kernel, weights: str, rows: int, cols: int) -> None:
    generator = torch.Generator().manual_seed(rows * cols)
    weight = torch.randn(rows, cols, generator=generator)
    x, bias = torch.randn(cols, generator=generator), torch.randn(rows, generator=generator)
    scale = None
    if weights == "float32":
        stored, expected_weight = weight, weight.numpy().astype(np.float64)
    elif weights == "bf16":
        stored = weight.to(torch.bfloat16)
        expected_weight = bf16_values(weight).astype(np.float64)
    else:
        stored = torch.randint(-127, 128, (rows, cols), generator=generator, dtype=torch.int8)
        scale = torch.rand(rows, generator=generator) + 0.01
        expected_weight = stored.numpy().astype(np.float64) * scale.numpy()[:, None]
    y = torch.empty(rows)
    kernel.matvec(
        stepping.WEIGHT_KINDS[weights], rows, cols, stored.data_ptr(),
        scale.data_ptr() if scale is not None else None, x.data_ptr(), bias.data_ptr(),
        y.data_ptr(),
    )  # fmt: skip
    expected = expected_weight @ x.numpy().astype(np.float64) + bias.numpy()
    # float32 sums: the error scales with the sum of the terms' sizes, not with the result
    terms = np.abs(expected_weight) @ np.abs(x.numpy().astype(np.float64)) + np.abs(bias.numpy())
    assert (np.abs(y.numpy() - expected) <= 1e-5 * terms).all()


def run_matvec(kernel, weights: str, stored, scale, x, bias=None) -> np.ndarray:
    y = torch.empty(stored.shape[0])
    kernel.matvec(
        stepping.WEIGHT_KINDS[weights], stored.shape[0], stored.shape[1], stored.data_ptr(),
        scale.data_ptr() if scale is not None else None, x.data_ptr(),
        bias.data_ptr() if bias is not None else None, y.data_ptr(),
    )  # fmt: skip
    return y.numpy()


def test_int8_matvec_over_many_vectors(kernel) -> None:
    """Vectors of every scale, including the largest entry's own rounding (where the int8 path
    writes x in fixed point relative to it): each row within float32's error of NumPy's."""
    generator = torch.Generator().manual_seed(11)
    stored = torch.randint(-127, 128, (8, 64), generator=generator, dtype=torch.int8)
    scale = torch.rand(8, generator=generator) + 0.01
    weight = stored.numpy().astype(np.float64) * scale.numpy()[:, None]
    for trial in range(300):
        x = torch.randn(64, generator=generator) * 10.0 ** (trial % 7 - 3)
        y = run_matvec(kernel, "int8", stored, scale, x)
        terms = np.abs(weight) @ np.abs(x.numpy().astype(np.float64))
        assert (np.abs(y - weight @ x.numpy().astype(np.float64)) <= 1e-5 * terms).all(), trial


@pytest.mark.parametrize("weights", ["float32", "bf16", "int8"])
def test_matvec_of_zeros_is_the_bias_and_nan_spreads(kernel, weights: str) -> None:
    generator = torch.Generator().manual_seed(12)
    stored = torch.randint(-127, 128, (8, 128), generator=generator, dtype=torch.int8)
    scale = torch.rand(8, generator=generator) + 0.01
    if weights != "int8":
        stored, scale = (
            stored.float().to(torch.bfloat16 if weights == "bf16" else torch.float32),
            None,
        )
    bias = torch.randn(8, generator=generator)
    zeros = run_matvec(kernel, weights, stored, scale, torch.zeros(128), bias)
    np.testing.assert_array_equal(zeros, bias.numpy())
    x = torch.randn(128, generator=generator)
    x[77] = float("nan")
    assert np.isnan(run_matvec(kernel, weights, stored, scale, x, bias)).all()


def numpy_cell(cell: str, u, p, h, c):
    """The updates stepping.c documents, in float64."""
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    H = h.shape[0]
    if cell == "lstm":
        a = u + p
        i, f, g, o = sig(a[:H]), sig(a[H : 2 * H]), np.tanh(a[2 * H : 3 * H]), sig(a[3 * H :])
        c = f * c + i * g
        return o * np.tanh(c), c
    if cell == "gru":
        r, z = sig(u[:H] + p[:H]), sig(u[H : 2 * H] + p[H : 2 * H])
        n = np.tanh(u[2 * H :] + r * p[2 * H :])
        return n + z * (h - n), c
    a = u + p
    return (np.tanh(a) if cell == "rnn_tanh" else np.maximum(a, 0.0)), c


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_cell_step_equals_numpy(kernel, cell: str) -> None:
    generator = torch.Generator().manual_seed(7)
    H = 21
    G = {"lstm": 4, "gru": 3}.get(cell, 1) * H
    weight = torch.randn(G, H, generator=generator) * 0.5
    u, bias = torch.randn(G, generator=generator), torch.randn(G, generator=generator)
    h, c = torch.randn(H, generator=generator), torch.randn(H, generator=generator)
    p = weight.double().numpy() @ h.double().numpy() + bias.double().numpy()
    expected_h, expected_c = numpy_cell(cell, u.double().numpy(), p, h.double().numpy(),
                                        c.double().numpy())  # fmt: skip
    scratch = torch.empty(G)
    kernel.cell_step(
        stepping.CELL_KINDS[cell], stepping.WEIGHT_KINDS["float32"], H, weight.data_ptr(), None,
        bias.data_ptr(), u.data_ptr(), h.data_ptr(), c.data_ptr(), scratch.data_ptr(),
    )  # fmt: skip
    np.testing.assert_allclose(h.numpy(), expected_h, rtol=1e-5, atol=1e-5)
    if cell == "lstm":
        np.testing.assert_allclose(c.numpy(), expected_c, rtol=1e-5, atol=1e-5)
