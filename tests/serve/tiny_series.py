"""A tiny hourly series file for the forecast and detect runs of the serve tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def series_csv(folder: Path, rows: int = 120) -> Path:
    """``folder/series.csv``: a time column and a noisy 12-step sine ``value``."""
    t = np.arange(rows)
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=rows, freq="h").astype(str),
            "value": np.sin(2 * np.pi * t / 12) + 0.1 * np.cos(t),
        }
    )
    path = folder / "series.csv"
    frame.to_csv(path, index=False)
    return path
