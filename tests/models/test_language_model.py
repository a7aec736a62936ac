"""LanguageModel against torch's own modules with copied weights, and its fast generation path."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from rnnkit.decoding import sample_next
from rnnkit.models import LanguageModel, stepping
from rnnkit.native import stepping as native_stepping


def torch_reference(model: LanguageModel) -> tuple[nn.Embedding, nn.LSTM, nn.Linear]:
    """``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear`` holding copies of the model's weights."""
    embedding = nn.Embedding.from_pretrained(model.embedding.weight.detach().clone())
    cell = model.rnn.cells[0]
    lstm = nn.LSTM(
        cell.input_size, cell.hidden_size, num_layers=model.rnn.num_layers, batch_first=True,
        proj_size=cell.proj_size,
    )  # fmt: skip
    with torch.no_grad():
        for layer, c in enumerate(model.rnn.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
                if getattr(c, name, None) is not None:
                    getattr(lstm, f"{name}_l{layer}").copy_(getattr(c, name))
    decoder = nn.Linear(model.decoder.in_features, model.decoder.out_features)
    decoder.load_state_dict(model.decoder.state_dict())
    return embedding, lstm, decoder


def test_forward_matches_torch_modules() -> None:
    model = LanguageModel(37, embedding_size=12, hidden_size=20, num_layers=2).eval()
    embedding, lstm, decoder = torch_reference(model)
    tokens = torch.randint(0, 37, (3, 9))
    h0 = torch.randn(2, 3, 20), torch.randn(2, 3, 20)
    logits, (h, c) = model(tokens, h0)
    output, (h_ref, c_ref) = lstm(embedding(tokens), h0)
    torch.testing.assert_close(logits, decoder(output))
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(c, c_ref)
    assert logits.shape == (3, 9, 37)


def test_streaming_in_chunks_equals_one_pass() -> None:
    model = LanguageModel(20, 8, 16, 2, cell="gru").eval()
    tokens = torch.randint(0, 20, (2, 12))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :5])
    second, _ = model(tokens[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)


def test_tied_weights_with_a_projection_when_widths_differ() -> None:
    model = LanguageModel(30, embedding_size=8, hidden_size=16, num_layers=1, tie_weights=True)
    assert model.decoder.weight is model.embedding.weight
    assert model.projection is not None
    assert (model.projection.in_features, model.projection.out_features) == (16, 8)
    model.eval()
    tokens = torch.randint(0, 30, (2, 5))
    features, _ = model.rnn(model.embedding(tokens))
    expected = model.projection(features) @ model.embedding.weight.t() + model.decoder.bias
    torch.testing.assert_close(model(tokens)[0], expected)


def test_tied_weights_through_lstm_projection_match_torch() -> None:
    model = LanguageModel(25, 8, 16, 2, tie_weights=True, proj_size=8).eval()
    assert model.projection is None and model.decoder.weight is model.embedding.weight
    embedding, lstm, decoder = torch_reference(model)
    tokens = torch.randint(0, 25, (2, 7))
    output, _ = lstm(embedding(tokens))
    torch.testing.assert_close(model(tokens)[0], decoder(output))


def test_config_round_trip_rebuilds_the_same_architecture() -> None:
    model = LanguageModel(
        40, 8, 16, 3, cell="ln_lstm", dropout=0.2, embedding_dropout=0.1, locked_dropout=True,
        weight_drop=0.3, tie_weights=True,
    )  # fmt: skip
    config = json.loads(json.dumps(model.config()))
    rebuilt = LanguageModel.from_config(config)
    assert rebuilt.config() == model.config()
    rebuilt.load_state_dict(model.state_dict())  # same parameter names and shapes
    model.eval(), rebuilt.eval()
    tokens = torch.randint(0, 40, (2, 6))
    torch.testing.assert_close(rebuilt(tokens)[0], model(tokens)[0])
    with pytest.raises(ValueError, match="unknown LanguageModel config keys"):
        LanguageModel.from_config({**config, "hiden_size": 3})


def test_dropout_is_active_in_training_only() -> None:
    model = LanguageModel(30, 8, 16, 2, dropout=0.5, embedding_dropout=0.2, weight_drop=0.3)
    tokens = torch.randint(0, 30, (2, 6))
    model.train()
    assert not torch.allclose(model(tokens)[0], model(tokens)[0])
    model.eval()
    torch.testing.assert_close(model(tokens)[0], model(tokens)[0])


def test_locked_dropout_shares_one_mask_across_time() -> None:
    model = LanguageModel(30, 8, 16, 2, dropout=0.5, locked_dropout=True).train()
    assert model.rnn.variational  # between layers too
    dropped = model._drop(torch.ones(4, 50, 8))
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # same mask every step
    assert set(dropped.unique().tolist()) == {0.0, 2.0}
    plain = LanguageModel(30, 8, 16, 2, dropout=0.5).train()._drop(torch.ones(4, 50, 8))
    assert not torch.equal(plain, plain[:, :1].expand_as(plain))


def greedy_through_forward(model: LanguageModel, prime: list[int], length: int) -> list[int]:
    """The slow oracle: ``forward`` on the prime, then on each new token with the carried state."""
    generated: list[int] = []
    with torch.no_grad():
        logits, state = model(torch.tensor([prime]))
        for _ in range(length):
            generated.append(int(logits[0, -1].argmax()))
            logits, state = model(torch.tensor([generated[-1:]]), state)
    return generated


FAST_PATH_CASES = [
    ("lstm", {}, True),
    ("lstm", {}, False),
    ("lstm", {"bias": False}, True),
    ("lstm", {"tie_weights": True, "proj_size": 8}, True),
    ("lstm", {"tie_weights": True}, True),  # an (H -> E) projection before the output layer
    ("gru", {"tie_weights": True}, False),
    ("gru", {}, True),
    ("gru", {}, False),
    ("gru", {"bias": False}, True),
    ("rnn", {}, True),
    ("rnn_relu", {}, False),
    ("ln_lstm", {"tie_weights": True}, True),
    ("ln_lstm", {"tie_weights": True}, False),
]


def model_for_fast_path(
    cell: str, options: dict, use_table: bool, monkeypatch: pytest.MonkeyPatch
) -> LanguageModel:
    if not use_table:  # force the embedding-lookup first layer used for large vocabularies
        monkeypatch.setattr(stepping, "_MAX_TABLE_ELEMENTS", 0)
    model = LanguageModel(31, 8, 16, 2, cell=cell, dropout=0.3, **options)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "bias" in name:  # the default zero biases would hide a misplaced bias
                parameter.uniform_(-0.5, 0.5)
        model.decoder.weight.mul_(8.0)  # spread the logits so argmax is far from ties
    return model.eval()


@pytest.mark.parametrize("kind", ["torch", "native"])
@pytest.mark.parametrize(("cell", "options", "use_table"), FAST_PATH_CASES)
def test_fast_step_logits_equal_forward(
    cell: str, options: dict, use_table: bool, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = model_for_fast_path(cell, options, use_table, monkeypatch)
    if kind == "native":
        if native_stepping.kernel() is None:
            pytest.skip("the native stepping kernel could not be built here")
        if not stepping.NativeStepper.supports(model):
            pytest.skip(f"the native stepper does not run {cell} with {options}")
    tokens = torch.randint(0, 31, (12,)).tolist()
    with torch.inference_mode():
        expected, _ = model(torch.tensor([tokens]))
        _, state = model(torch.tensor([tokens[:1]]))
        stepper = (
            stepping.NativeStepper(model) if kind == "native" else stepping.TorchStepper(model)
        )
        stepper.start(state)
        for t, token in enumerate(tokens[1:], start=1):
            logits = stepper.step(token)
            torch.testing.assert_close(logits, expected[:, t], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("cell", "options", "use_table"), FAST_PATH_CASES)
def test_greedy_generation_equals_forward_loop(
    cell: str, options: dict, use_table: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = model_for_fast_path(cell, options, use_table, monkeypatch)
    prime = [4, 9, 1, 22]
    generated = list(model.generate(prime, 20, temperature=0.0))
    assert generated == greedy_through_forward(model, prime, 20)


@pytest.mark.parametrize("cell", ["lstm", "ln_lstm"])
def test_generation_in_training_mode_is_dropout_free_and_leaves_the_mode(cell: str) -> None:
    model = LanguageModel(20, 8, 16, 2, cell=cell, dropout=0.5, embedding_dropout=0.3)
    model_with_weight_drop = LanguageModel(20, 8, 16, 2, cell=cell, weight_drop=0.5)
    for m in (model, model_with_weight_drop):
        m.train()
        stream = m.generate([1, 2], 12, temperature=0.0)
        first = next(stream)
        assert not torch.is_inference_mode_enabled()  # not leaked to the caller between tokens
        assert m.training
        generated = [first, *stream]
        assert m.training
        m.eval()
        assert generated == greedy_through_forward(m, [1, 2], 12)


def test_sampled_generation_is_reproducible_and_in_range() -> None:
    model = LanguageModel(50, 8, 16, 2).eval()

    def sample(seed: int) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        return list(
            model.generate([3], 40, temperature=1.0, top_k=10, top_p=0.9, generator=generator)
        )

    first = sample(0)
    assert first == sample(0)
    assert len(first) == 40 and all(0 <= i < 50 for i in first)


def test_sampled_generation_equals_a_sampling_loop_through_forward() -> None:
    """Same seed, same draws: the fast path gives the distributions the full forward pass gives.

    (``sample_next`` itself is checked against NumPy in tests/decoding/test_sampling.py.)
    """
    model = LanguageModel(12, 8, 16, 2).eval()
    with torch.no_grad():
        model.decoder.weight.mul_(4.0)
    prime, options = [2, 5], {"temperature": 0.8, "top_k": 6, "top_p": 0.95}
    fast = list(model.generate(prime, 30, generator=torch.Generator().manual_seed(3), **options))

    generator = torch.Generator().manual_seed(3)
    slow: list[int] = []
    with torch.no_grad():
        logits, state = model(torch.tensor([prime]))
        for _ in range(30):
            slow.append(int(sample_next(logits[:, -1], generator=generator, **options)))
            logits, state = model(torch.tensor([slow[-1:]]), state)
    assert fast == slow


def test_generation_arguments_are_checked() -> None:
    model = LanguageModel(10, 4, 8, 1)
    with pytest.raises(ValueError, match="at least one token id"):
        model.generate([], 5)
    with pytest.raises(ValueError, match="prime_ids must be in 0..9"):
        model.generate([12], 5)
    with pytest.raises(ValueError, match="length must be >= 0"):
        model.generate([1], -1)
    assert list(model.generate([1], 0)) == []
