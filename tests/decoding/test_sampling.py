"""Top-k, top-p and sampling against NumPy: the kept sets and the sampling frequencies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.decoding import sample_next, sample_rows, top_k_filter, top_p_filter
from rnnkit.decoding.sampling import inverse_cdf_draw


def numpy_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def numpy_top_k_kept(logits: np.ndarray, k: int) -> np.ndarray:
    kept = np.zeros(logits.shape, dtype=bool)
    for row, values in enumerate(logits):
        kept[row, np.argsort(-values)[:k]] = True
    return kept


def numpy_top_p_kept(logits: np.ndarray, p: float) -> np.ndarray:
    """The smallest set of most probable tokens whose probabilities sum to at least p."""
    kept = np.zeros(logits.shape, dtype=bool)
    for row, probs in enumerate(numpy_softmax(logits.astype(np.float64))):
        total = 0.0
        for token in np.argsort(-probs):
            kept[row, token] = True
            total += probs[token]
            if total >= p:
                break
    return kept


@pytest.mark.parametrize("k", [1, 3, 7, 19])
def test_top_k_keeps_the_k_largest(k: int) -> None:
    logits = torch.randn(6, 20)
    filtered = top_k_filter(logits, k)
    kept = torch.isfinite(filtered).numpy()
    np.testing.assert_array_equal(kept, numpy_top_k_kept(logits.numpy(), k))
    assert torch.equal(filtered[torch.from_numpy(kept)], logits[torch.from_numpy(kept)])


def test_top_k_off_values_keep_everything() -> None:
    logits = torch.randn(2, 5)
    assert torch.equal(top_k_filter(logits, 0), logits)
    assert torch.equal(top_k_filter(logits, 5), logits)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9, 0.99])
def test_top_p_keeps_the_nucleus(p: float) -> None:
    logits = 2.0 * torch.randn(8, 30)
    filtered = top_p_filter(logits, p)
    kept = torch.isfinite(filtered).numpy()
    np.testing.assert_array_equal(kept, numpy_top_p_kept(logits.numpy(), p))
    assert kept.any(axis=1).all()  # the most probable token always survives


def test_top_p_one_keeps_everything_and_bad_p_is_rejected() -> None:
    logits = torch.randn(2, 5)
    assert torch.equal(top_p_filter(logits, 1.0), logits)
    with pytest.raises(ValueError, match="top_p must be in"):
        top_p_filter(logits, 0.0)


def test_temperature_zero_is_argmax() -> None:
    logits = torch.randn(16, 11)
    assert torch.equal(sample_next(logits, temperature=0.0), logits.argmax(dim=-1))


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, 0, 1.0), (0.5, 0, 1.0), (2.0, 0, 1.0), (1.0, 3, 1.0), (1.0, 0, 0.7), (0.8, 4, 0.8)],
)
def test_sampling_frequencies_match_numpy(temperature: float, top_k: int, top_p: float) -> None:
    logits = torch.tensor([1.5, 0.2, -0.3, 0.9, -1.0, 0.0])
    draws = 40_000
    generator = torch.Generator().manual_seed(1234)
    samples = sample_next(
        logits.expand(draws, -1), temperature, top_k, top_p, generator=generator
    ).numpy()

    # Independent expectation: temper, keep top-k then the nucleus, renormalise.
    scaled = logits.numpy().astype(np.float64)[None] / temperature
    kept = np.ones_like(scaled, dtype=bool)
    if top_k:
        kept &= numpy_top_k_kept(scaled, top_k)
    masked = np.where(kept, scaled, -np.inf)
    if top_p < 1.0:
        kept &= numpy_top_p_kept(masked, top_p)
    expected = numpy_softmax(np.where(kept, scaled, -np.inf))[0]

    counts = np.bincount(samples, minlength=logits.numel())
    assert counts[~kept[0]].sum() == 0
    observed = counts / draws
    sigma = np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(observed - expected) <= 5 * sigma + 1e-12), (observed, expected)


def test_sampling_is_reproducible_with_a_seeded_generator() -> None:
    logits = torch.randn(4, 50)
    first = sample_next(logits, 1.0, generator=torch.Generator().manual_seed(7))
    second = sample_next(logits, 1.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, second)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sample_next(torch.randn(1, 3), temperature=-1.0)
    with pytest.raises(ValueError, match=r"logits must be \(B, V\)"):
        sample_next(torch.randn(3), temperature=1.0)


def test_inverse_cdf_draw_picks_the_interval_holding_u() -> None:
    probs = torch.tensor([[0.1, 0.0, 0.4, 0.5], [0.25, 0.25, 0.25, 0.25]])
    for u, expected in [(0.0, [0, 0]), (0.05, [0, 0]), (0.1, [2, 0]), (0.49, [2, 1]),
                        (0.5, [3, 2]), (0.99, [3, 3])]:  # fmt: skip
        draws = inverse_cdf_draw(probs, torch.full((2, 1), u))
        assert draws.tolist() == expected, u


def test_inverse_cdf_draw_never_picks_a_zero_probability_token() -> None:
    # u = 1 stands for u * total rounding up to total: the last token has probability 0.
    probs = torch.tensor([[0.3, 0.7, 0.0, 0.0]])
    assert inverse_cdf_draw(probs, torch.ones(1, 1)).tolist() == [1]


def test_sample_rows_draws_what_sample_next_draws_for_each_row() -> None:
    """Rows with mixed settings (greedy, top-k, top-p, both, none), each with its own generator,
    against ``sample_next`` on each row alone with a generator seeded alike."""
    settings = [(0.0, 0, 1.0), (1.0, 3, 1.0), (0.7, 0, 0.8), (1.3, 5, 0.9), (1.0, 0, 1.0)] * 3
    logits = torch.randn(len(settings), 11, generator=torch.Generator().manual_seed(0)) * 2
    for draw in range(20):
        generators = [torch.Generator().manual_seed(100 * draw + row) for row in range(15)]
        temperatures, top_ks, top_ps = (list(column) for column in zip(*settings, strict=True))
        together = sample_rows(logits, temperatures, top_ks, top_ps, generators)
        for row, (temperature, top_k, top_p) in enumerate(settings):
            alone = sample_next(
                logits[row : row + 1], temperature, top_k, top_p,
                torch.Generator().manual_seed(100 * draw + row),
            )  # fmt: skip
            assert int(together[row]) == int(alone), (draw, row)
            # the row's generator has moved on exactly as sample_next moves it
            follow = torch.Generator().manual_seed(100 * draw + row)
            if temperature > 0:
                torch.rand(1, generator=follow)
            assert torch.rand(1, generator=generators[row]) == torch.rand(1, generator=follow)
