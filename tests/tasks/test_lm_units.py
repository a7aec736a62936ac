"""The unit search (rnnkit.tasks.lm_units): signals written out by hand, correlations against
NumPy's, and the ranking of a trained run's units against correlations computed here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.errors import UserError
from rnnkit.tasks import lm, lm_units
from rnnkit.tasks.lm_sampling import LoadedLM

TEXT = 'he said "come (here) now" to me.\nshe [said] no.\n' * 30


def test_signals_of_a_short_text_written_out_by_hand():
    got = lm_units.signals('a"b(c)"\nd')
    #                 a  "  b  (  c  )  "  \n d
    assert got["quotes"].tolist() == [0, 1, 1, 1, 1, 1, 0, 0, 0]
    assert got["brackets"].tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0]
    assert got["line_position"].tolist() == [1, 2, 3, 4, 5, 6, 7, 0, 1]


def test_brackets_nest_and_a_stray_closer_does_not_go_below_zero():
    assert lm_units.signals(")([{x}])")["brackets"].tolist() == [0, 1, 2, 3, 3, 2, 1, 0]


def test_correlations_equal_numpys_and_a_constant_unit_scores_zero():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=50)
    hidden = np.column_stack([signal * 2 + 1, -signal, rng.normal(size=50), np.ones(50)])
    got = lm_units.correlations(hidden, signal)
    expected = [np.corrcoef(hidden[:, k], signal)[0, 1] for k in range(3)]
    np.testing.assert_allclose(got[:3], expected, atol=1e-12)
    assert got[3] == 0.0
    np.testing.assert_allclose(got[:2], [1.0, -1.0], atol=1e-12)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> LoadedLM:
    folder = tmp_path_factory.mktemp("lm")
    (folder / "text.txt").write_text(TEXT, encoding="utf-8")
    run = lm.train(
        lm.LMOptions(
            data=folder / "text.txt", out=folder / "run", hidden=8, layers=2, bptt=8,
            batch_size=4, max_steps=10, eval_every=10, progress="off", precision="fp32",
            device="cpu", seed=0,
        )
    )  # fmt: skip
    return LoadedLM.open(run)


@pytest.mark.parametrize("signal", lm_units.SIGNALS)
def test_top_units_rank_by_absolute_correlation_over_the_text(loaded, signal):
    found = lm_units.top_units(loaded, TEXT, signal, count=16)
    assert [u.unit for u in found] != [] and len(found) == 16
    hidden = lm_units.hidden_states(
        loaded, torch.tensor(loaded.tokenizer.encode(TEXT)), lm_units.STREAMS
    ).numpy()
    values = lm_units.signals(TEXT)[signal][: hidden.shape[0]]
    for unit in found:
        expected = np.corrcoef(hidden[:, unit.unit], values)[0, 1]
        assert unit.correlation == pytest.approx(expected, abs=1e-9)
        assert (unit.layer, unit.index) == divmod(unit.unit, 8)
    magnitudes = [abs(u.correlation) for u in found]
    assert magnitudes == sorted(magnitudes, reverse=True)


def test_activations_of_a_text_are_the_states_after_each_character(loaded):
    pieces, values = lm_units.activations(loaded, "he said", [1, 12])
    assert pieces == list("he said")
    ids = loaded.tokenizer.encode("he said")
    with torch.no_grad():
        output, _ = loaded.model.rnn(loaded.model.embedding(torch.tensor([ids])))
    np.testing.assert_allclose(values[:, 1], output[0, :, 12 - 8], atol=1e-5)


@pytest.mark.parametrize(
    "text, signal, fragment",
    [
        ("no quotes here\n" * 5, "quotes", "never changes the quotes signal"),
        (TEXT, "commas", "signal 'commas' is not known"),
    ],
)
def test_a_search_that_cannot_work_is_refused_in_one_sentence(loaded, text, signal, fragment):
    with pytest.raises(UserError, match=fragment):
        lm_units.top_units(loaded, text, signal)
