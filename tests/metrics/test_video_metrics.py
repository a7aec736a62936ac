"""Frame metrics against NumPy sums and scikit-image's SSIM."""

import numpy as np
import pytest
import torch

from rnnkit.metrics.video import FrameScore, copy_last_frame, ssim_per_frame


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(3, 2, 24, 30, generator=gen, dtype=torch.float64)
    b = (a + 0.3 * torch.randn(a.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    ours = ssim_per_frame(a, b)
    for i in range(3):
        theirs = metrics.structural_similarity(
            a[i].numpy(), b[i].numpy(), channel_axis=0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, data_range=1.0,
        )  # fmt: skip
        assert float(ours[i]) == pytest.approx(theirs, abs=1e-10)


def test_ssim_of_frames_smaller_than_the_window_uses_the_window_part_that_fits():
    # 9x9 frames: the 9x9 centre of the Gaussian window fits once, so SSIM is one weighted
    # comparison of the whole frames, written out here in NumPy
    rng = np.random.default_rng(3)
    a, b = rng.random((9, 9)), rng.random((9, 9))
    g = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    w = np.outer(g, g) / np.outer(g, g).sum()
    mu_a, mu_b = (w * a).sum(), (w * b).sum()
    var_a, var_b = (w * a * a).sum() - mu_a**2, (w * b * b).sum() - mu_b**2
    cov = (w * a * b).sum() - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    expected = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    got = ssim_per_frame(torch.tensor(a).view(1, 9, 9), torch.tensor(b).view(1, 9, 9))
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_ssim_of_identical_frames_is_one():
    a = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(ssim_per_frame(a, a), torch.ones(2, dtype=torch.float64))


def test_per_frame_errors_sum_over_pixels_and_average_over_frames():
    rng = np.random.default_rng(1)
    truth = rng.random((2, 3, 1, 12, 12))
    predicted = rng.random((2, 3, 1, 12, 12))
    score = FrameScore()
    score.add(torch.from_numpy(predicted[:1]), torch.from_numpy(truth[:1]))
    score.add(torch.from_numpy(predicted[1:]), torch.from_numpy(truth[1:]))
    result = score.result()
    assert result["mse"] == pytest.approx(((predicted - truth) ** 2).sum() / 6)
    assert result["mae"] == pytest.approx(np.abs(predicted - truth).sum() / 6)
    by_step = ((predicted - truth) ** 2).sum(axis=(2, 3, 4)).mean(axis=0)
    np.testing.assert_allclose(score.mse_by_step(), by_step)


def test_copy_last_frame_repeats_the_last_context_frame():
    context = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 1, 2, 2)
    copied = copy_last_frame(context, 4)
    assert copied.shape == (2, 4, 1, 2, 2)
    for t in range(4):
        torch.testing.assert_close(copied[:, t], context[:, 2])
