"""Reading images with Pillow: mode conversion, scaling and centre crop, normalisation, faults."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rnnkit.data.image_files import ImageSettings, is_grey, read_image
from rnnkit.errors import UserError


def test_a_wide_image_is_cut_to_its_centre(tmp_path):
    pixels = np.arange(4 * 8, dtype=np.uint8).reshape(4, 8) * 7  # 4 rows, 8 columns
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    got = read_image(tmp_path / "wide.png", size=4, channels=1)
    assert got.shape == (1, 4, 4)
    np.testing.assert_array_equal(got[0], pixels[:, 2:6])  # no scaling: the middle 4 columns


def test_colour_becomes_grey_by_the_luma_formula_and_grey_becomes_rgb(tmp_path):
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    grey = read_image(tmp_path / "colour.png", size=2, channels=1)
    # ITU-R 601-2: L = R 299/1000 + G 587/1000 + B 114/1000
    assert grey.shape == (1, 2, 2)
    assert np.all(np.abs(grey.astype(int) - round(200 * 0.299 + 100 * 0.587 + 50 * 0.114)) <= 1)
    Image.fromarray(np.full((2, 2), 90, dtype=np.uint8)).save(tmp_path / "grey.jpg")
    as_rgb = read_image(tmp_path / "grey.jpg", size=2, channels=3)
    assert as_rgb.shape == (3, 2, 2)
    assert np.all(np.abs(as_rgb.astype(int) - 90) <= 2)  # JPEG is lossy
    assert is_grey(tmp_path / "grey.jpg") and not is_grey(tmp_path / "colour.png")


def test_a_large_image_is_scaled_so_its_shorter_side_fits(tmp_path):
    Image.fromarray(np.full((40, 20), 255, dtype=np.uint8)).save(tmp_path / "tall.png")
    assert read_image(tmp_path / "tall.png", size=10, channels=1).shape == (1, 10, 10)


def test_settings_normalise_to_zero_mean_and_unit_deviation():
    images = torch.randint(0, 256, (5, 3, 4, 4), dtype=torch.uint8)
    settings = ImageSettings.fit(images)
    pixels = images.numpy().astype(float) / 255
    np.testing.assert_allclose(settings.mean, pixels.mean(axis=(0, 2, 3)), rtol=1e-9)
    np.testing.assert_allclose(settings.std, pixels.std(axis=(0, 2, 3), ddof=1), rtol=1e-9)
    normal = settings.normalise(images)
    assert normal.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert ImageSettings.from_dict(settings.to_dict()) == settings


def test_files_that_are_no_images_are_refused_in_one_sentence(tmp_path):
    (tmp_path / "notes.png").write_text("not an image", encoding="utf-8")
    with pytest.raises(UserError, match=r"notes\.png is not an image Pillow can read"):
        read_image(tmp_path / "notes.png", 8, 1)
    with pytest.raises(UserError, match="does not exist"):
        read_image(tmp_path / "missing.png", 8, 1)
