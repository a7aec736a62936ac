"""examples/waveforms.py: a ConditionalGenerator draws waves at the asked frequency (FFT check)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "waveforms.py"


def load_example():
    spec = importlib.util.spec_from_file_location("waveforms_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_waves_peak_at_the_asked_frequency() -> None:
    waveforms = load_example()
    # 32-sample waves (the example draws 64) keep the test fast; 6 cycles still fit 5 samples
    model = waveforms.train_generator(150, batch_size=32, hidden_size=48, seed=0, steps=32)
    for shape in waveforms.SHAPES:
        for cycles in (2, 3, 4, 5, 6):
            wave = waveforms.generate(model, cycles, 0.8, shape, steps=32)
            # the oracle: NumPy's FFT of the generated samples, and of the true wave
            assert waveforms.dominant_cycles(wave) == cycles, (shape, cycles)
            assert waveforms.dominant_cycles(waveforms.waveform(cycles, 0.8, shape, 32)) == cycles
    sine = waveforms.generate(model, 4, 0.8, "sine", steps=32)
    assert 0.5 < np.abs(sine).max() < 1.1  # the amplitude is followed, roughly
