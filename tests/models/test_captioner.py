"""The captioner: its CNN's outputs, the doubly stochastic penalty, a frozen encoder, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models.captioner import Captioner, attention_regularisation
from rnnkit.models.image_encoder import ImageEncoder


def test_the_encoder_gives_row_major_positions_and_their_mean():
    torch.manual_seed(0)
    encoder = ImageEncoder(in_channels=3, image_size=16, widths=(4, 6)).eval()
    images = torch.randn(2, 3, 16, 16)
    features, pooled = encoder(images)
    assert features.shape == (2, 16, 6) and encoder.grid == (4, 4)
    feature_map = encoder.stages(images)  # (2, 6, 4, 4)
    # position r * 4 + c holds the map's row r, column c
    torch.testing.assert_close(features[:, 1 * 4 + 3], feature_map[:, :, 1, 3])
    torch.testing.assert_close(pooled, feature_map.mean(dim=(2, 3)))


def test_the_attention_penalty_by_hand():
    # one row, two steps (the second padding), three positions
    weights = torch.tensor([[[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]])
    steps = torch.tensor([[True, False]])
    # received attention (0.5, 0.5, 0): (1 - 0.5)^2 + (1 - 0.5)^2 + 1^2 = 1.5
    assert float(attention_regularisation(weights, steps)) == 1.5


def small_captioner(**options) -> Captioner:
    return Captioner(
        12, image_channels=1, image_size=16, encoder_widths=(4, 8), embedding_size=8,
        decoder_hidden=16, dropout=0.0, **options,
    )  # fmt: skip


def test_the_loss_adds_the_penalty_to_the_cross_entropy():
    torch.manual_seed(0)
    model = small_captioner().eval()
    images = torch.randn(3, 1, 16, 16)
    target_in = torch.tensor([[2, 5, 6], [2, 7, 0], [2, 8, 9]])
    target_out = torch.tensor([[5, 6, 3], [7, 3, 0], [8, 9, 3]])
    loss = model(images, None, target_in, target_out=target_out, attention_penalty=0.3)
    logits, weights = model.decode(model.encode(images), target_in, return_attention=True)
    cross_entropy = F.cross_entropy(logits.flatten(0, 1), target_out.flatten(), ignore_index=0)
    received = (weights * (target_out != 0).unsqueeze(-1)).sum(1)
    penalty = ((1 - received) ** 2).sum(1).mean()
    torch.testing.assert_close(loss, cross_entropy + 0.3 * penalty)


def test_a_frozen_encoder_keeps_its_weights_and_statistics():
    torch.manual_seed(0)
    model = small_captioner(freeze_encoder=True).train()
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    decoder_before = model.output.weight.clone()
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.1)
    target_in, target_out = torch.tensor([[2, 5]] * 4), torch.tensor([[5, 3]] * 4)
    loss = model(torch.randn(4, 1, 16, 16), None, target_in, target_out=target_out)
    loss.backward()
    optimiser.step()
    assert not model.encoder.training  # batch norm keeps its running statistics
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert not torch.equal(model.output.weight, decoder_before)


def test_keywords_learn_their_sentences_and_beam_one_matches_greedy():
    torch.manual_seed(0)
    # keyword ids 4..6 -> captions of ids: 4 -> [5 6 7], 5 -> [8 9], 6 -> [7 7 5 10]
    captions = {4: [5, 6, 7], 5: [8, 9], 6: [7, 7, 5, 10]}
    model = Captioner(12, input_kind="keywords", keyword_vocab_size=8, embedding_size=16,
                      decoder_hidden=32, dropout=0.0)  # fmt: skip
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    keys = torch.tensor([[4], [5], [6]])
    lengths = torch.ones(3, dtype=torch.long)
    longest = max(len(c) for c in captions.values())
    target_in = torch.zeros(3, longest + 1, dtype=torch.long)
    target_out = torch.zeros(3, longest + 1, dtype=torch.long)
    for row, ids in enumerate(captions.values()):
        target_in[row, : len(ids) + 1] = torch.tensor([2, *ids])
        target_out[row, : len(ids) + 1] = torch.tensor([*ids, 3])
    for _ in range(150):
        optimiser.zero_grad()
        model(keys, lengths, target_in, target_out=target_out).backward()
        optimiser.step()
    greedy = model.generate(keys, lengths, 8).sequences()
    assert greedy == list(captions.values())
    assert model.generate(keys, lengths, 8, beam_size=5).sequences() == greedy


@pytest.mark.parametrize("cell", ["lstm", "ln_gru", "mingru"])
def test_any_cell_decodes_with_or_without_attention(cell):
    torch.manual_seed(0)
    for attention in ("luong-general", "none"):
        model = small_captioner(cell=cell, attention=attention, decoder_layers=2)
        images = torch.randn(2, 1, 16, 16)
        target_in, target_out = torch.tensor([[2, 5, 6]] * 2), torch.tensor([[5, 6, 3]] * 2)
        loss = model(images, None, target_in, target_out=target_out, attention_penalty=0.1)
        loss.backward()
        assert torch.isfinite(loss)
        result = model.generate(images, None, 4, beam_size=2)
        assert result.tokens.shape[0] == 2 and int(result.lengths.max()) <= 4
