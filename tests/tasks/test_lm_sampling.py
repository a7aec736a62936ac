"""Sampling many primes at once (rnnkit.tasks.lm_sampling) gives each prime the text that
``lm.generate`` (the path of ``rnnkit generate``) gives it alone, and reports hidden states that
match reading the same text through the model from scratch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.errors import UserError
from rnnkit.layers.recurrent import as_tuple
from rnnkit.tasks import lm, lm_units
from rnnkit.tasks.lm_sampling import LoadedLM, SampleRequest, sample_many, sample_steps

TEXT = 'he said "come (here) now" to me.\nshe [said] no.\n' * 30


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> LoadedLM:
    folder = tmp_path_factory.mktemp("lm")
    (folder / "text.txt").write_text(TEXT, encoding="utf-8")
    run = lm.train(
        lm.LMOptions(
            data=folder / "text.txt", out=folder / "run", hidden=8, layers=2, bptt=8,
            batch_size=4, max_steps=20, eval_every=10, progress="off", precision="fp32",
            device="cpu", seed=0,
        )
    )  # fmt: skip
    return LoadedLM.open(run)


def test_greedy_batch_gives_each_prime_the_text_lm_generate_gives_it_alone(loaded):
    requests = [
        SampleRequest("he", 12, temperature=0),
        SampleRequest("", 5, temperature=0),  # the run's default prime
        SampleRequest('she said "', 20, temperature=0),
    ]
    samples = sample_many(loaded, requests)
    for request, sample in zip(requests, samples, strict=True):
        alone = "".join(lm.generate(loaded.path, request.prime, request.length, temperature=0))
        assert sample.text == alone
        assert len(sample.pieces) == request.length  # one piece per character


def test_seeded_sampling_in_a_batch_equals_seeded_sampling_alone(loaded):
    requests = [
        SampleRequest("he", 30, temperature=1.0, top_k=5, seed=3),
        SampleRequest("no", 25, temperature=0.7, top_p=0.9, seed=4),
    ]
    samples = sample_many(loaded, requests)
    for request, sample in zip(requests, samples, strict=True):
        alone = lm.generate(
            loaded.path, request.prime, request.length, request.temperature, request.top_k,
            request.top_p, request.seed,
        )  # fmt: skip
        assert sample.text == "".join(alone)


def test_each_piece_reports_the_hidden_state_after_reading_its_character(loaded):
    units = [0, 5, 9, 15]  # both layers: 2 x 8 units, layer-major
    (sample,) = sample_many(loaded, [SampleRequest("he sa", 15, seed=1, units=units)])
    text = "he sa" + sample.text
    ids = loaded.tokenizer.encode(text)
    for t in (5, 9, len(ids) - 1):  # after the first generated character, and later ones
        with torch.no_grad():
            _, state = loaded.model(torch.tensor([ids[: t + 1]]))
        h = as_tuple(state)[0][:, 0, :].flatten()  # (L * H,), layer-major
        np.testing.assert_allclose(sample.pieces[t - 5].activations, h[units], atol=1e-5)


def test_sample_steps_yields_none_for_requests_that_are_done(loaded):
    steps = list(sample_steps(loaded, [SampleRequest("a", 1), SampleRequest("b", 3)]))
    assert len(steps) == 3
    assert steps[0][0] is not None and steps[1][0] is None and steps[2][0] is None
    assert all(step[1] is not None for step in steps)


@pytest.mark.parametrize(
    "request_, fragment",
    [
        (SampleRequest(length=-1), "--length"),
        (SampleRequest(temperature=-0.5), "--temperature"),
        (SampleRequest(top_p=0.0), "--top-p"),
        (SampleRequest(units=[16]), "unit 16 does not exist"),
    ],
)
def test_bad_requests_are_refused_in_one_sentence(loaded, request_, fragment):
    with pytest.raises(UserError, match=fragment):
        sample_many(loaded, [request_])


def test_hidden_states_read_in_streams_equal_reading_each_stream_alone(loaded):
    ids = torch.tensor(loaded.tokenizer.encode(TEXT[:64]))
    together = lm_units.hidden_states(loaded, ids, streams=4)  # 4 streams of 16 characters
    assert together.shape == (64, loaded.num_units)
    for stream in range(4):
        piece = ids[stream * 16 : (stream + 1) * 16]
        with torch.no_grad():
            output, _ = loaded.model.rnn(loaded.model.embedding(piece[None]))
        # the top layer's outputs of the whole-sequence forward are the last H units
        np.testing.assert_allclose(
            together[stream * 16 : (stream + 1) * 16, 8:], output[0], atol=1e-5
        )
