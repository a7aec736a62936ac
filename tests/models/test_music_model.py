"""PianoRollModel: probabilities that sum to one, the NADE trick against a key-by-key oracle,
generation that carries its state, and reproducible sampling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rnnkit.models.music import PianoRollModel


def all_frames(keys: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=keys)))


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_probabilities_of_all_2_to_the_k_frames_sum_to_one(head, cell):
    torch.manual_seed(0)
    keys = 5
    model = PianoRollModel(keys, hidden_size=7, cell=cell, head=head, nade_hidden=6).eval()
    past = torch.bernoulli(torch.full((1, 4, keys), 0.5))
    frames = all_frames(keys)  # (32, K)
    rolls = torch.cat([past.expand(len(frames), -1, -1), frames.unsqueeze(1)], dim=1)
    with torch.no_grad():
        log_p = model(rolls)  # (32, 5)
    assert float(log_p[:, -1].exp().sum()) == pytest.approx(1.0, abs=1e-5)
    # the frames before the last are the same in every row, so are their probabilities
    assert torch.allclose(log_p[:, :-1], log_p[:1, :-1].expand(len(frames), -1))


def test_nade_logits_equal_a_key_by_key_numpy_computation():
    torch.manual_seed(1)
    keys, hidden = 6, 4
    model = PianoRollModel(keys, hidden_size=5, head="nade", nade_hidden=hidden).eval()
    rolls = torch.bernoulli(torch.full((2, 3, keys), 0.4))
    with torch.no_grad():
        got = model.key_logits(rolls).numpy()
        inputs = torch.cat([torch.zeros(2, 1, keys), rolls[:, :-1]], dim=1)
        context, _ = model.context(inputs)
    head = model.head
    b = head.to_visible_bias(context).detach().numpy()
    c = head.to_hidden_bias(context).detach().numpy()
    w, v = head.w.detach().numpy(), head.v.detach().numpy()
    frames = rolls.numpy()
    for n, t in itertools.product(range(2), range(3)):
        activation = c[n, t].copy()
        for k in range(keys):
            hidden_k = 1 / (1 + np.exp(-activation))
            assert got[n, t, k] == pytest.approx(b[n, t, k] + hidden_k @ v[k], abs=1e-5)
            activation += frames[n, t, k] * w[k]


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
def test_greedy_generation_carries_the_state_exactly(head):
    """Generating at temperature 0 one step at a time equals the likeliest frame of every step
    recomputed from the whole generated piece: the carried state is the state of the past."""
    torch.manual_seed(2)
    keys = 8
    model = PianoRollModel(keys, hidden_size=16, head=head, nade_hidden=8)
    with torch.no_grad():  # a bias that makes keys sound, so that the piece is not silent
        (model.head.out if head == "bernoulli" else model.head.to_visible_bias).bias.fill_(0.3)
    prime = torch.bernoulli(torch.full((3, keys), 0.5))
    generated = model.generate(6, prime, temperature=0.0)[0]
    assert generated.sum() > 0
    piece = torch.cat([prime, generated]).unsqueeze(0)
    with torch.no_grad():
        likeliest = model.eval().most_likely(piece)[0]
    assert torch.equal(likeliest[3:], generated)


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
def test_sampling_with_a_seed_is_reproducible_and_keeps_the_mode(head):
    torch.manual_seed(3)
    model = PianoRollModel(10, hidden_size=8, head=head, nade_hidden=4).train()

    def sample(seed: int) -> torch.Tensor:
        return model.generate(12, None, 1.0, torch.Generator().manual_seed(seed), samples=3)

    first = sample(7)
    assert first.shape == (3, 12, 10)
    assert torch.equal(first, sample(7))
    assert not torch.equal(first, sample(8))
    assert model.training  # the mode is restored


def test_sampled_key_frequencies_match_the_bernoulli_probabilities():
    torch.manual_seed(4)
    model = PianoRollModel(4, hidden_size=6, head="bernoulli")
    with torch.no_grad():
        model.head.out.weight.zero_()  # probabilities then ignore the past
        model.head.out.bias.copy_(torch.tensor([-2.0, 0.0, 1.0, 3.0]))
    frames = model.generate(1, None, 1.0, torch.Generator().manual_seed(0), samples=20000)[:, 0]
    expected = torch.sigmoid(model.head.out.bias.detach())
    assert torch.allclose(frames.mean(0), expected, atol=0.015)


def test_config_round_trip():
    model = PianoRollModel(88, hidden_size=12, num_layers=2, cell="gru", head="nade", dropout=0.1)
    rebuilt = PianoRollModel.from_config(model.config())
    assert rebuilt.config() == model.config()
    assert set(rebuilt.state_dict()) == set(model.state_dict())
    assert "head.strictly_below" not in model.state_dict()  # a constant, not saved


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
def test_a_mask_scores_only_its_frames_and_the_same_way(head):
    torch.manual_seed(5)
    model = PianoRollModel(6, hidden_size=8, head=head, nade_hidden=4).eval()
    rolls = torch.bernoulli(torch.full((3, 5, 6), 0.3))
    mask = torch.rand(3, 5) < 0.6
    with torch.no_grad():
        whole, masked = model(rolls), model(rolls, mask=mask)
        assert torch.allclose(masked[mask], whole[mask], atol=1e-6)
        assert not masked[~mask].any()
        assert torch.equal(model.most_likely(rolls, mask), model.most_likely(rolls)[mask])
