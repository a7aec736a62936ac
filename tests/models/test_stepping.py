"""Batch-1 steppers: reduced-precision weights, the cache of prepared weights, the torch fall-back.

The oracle for a stepper with rounded weights is the model's own ``forward`` on a copy whose
weights hold the rounded values (torch's kernels, not the C kernel); the rounding itself is checked
against its definition with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.decoding import sample_next
from rnnkit.layers.recurrent import as_tuple
from rnnkit.models import LanguageModel, stepping
from rnnkit.native import stepping as native_stepping

needs_kernel = pytest.mark.skipif(
    native_stepping.kernel() is None, reason="the native stepping kernel could not be built here"
)


def test_int8_rounding_is_per_row_symmetric_to_127_levels() -> None:
    weight = torch.randn(9, 40) * torch.linspace(0.1, 3.0, 9)[:, None]
    values, scale = stepping.round_weight(weight, "int8")
    w = weight.numpy().astype(np.float64)
    expected_scale = np.abs(w).max(axis=1) / 127.0
    np.testing.assert_allclose(scale.numpy(), expected_scale, rtol=1e-6)
    assert values.dtype == torch.int8 and int(values.abs().max()) == 127
    error = np.abs(values.numpy() * scale.numpy()[:, None] - w)
    assert (error <= expected_scale[:, None] / 2 * (1 + 1e-5)).all()


def test_bf16_rounding_keeps_7_bits_of_mantissa() -> None:
    weight = torch.randn(5, 33)
    values = stepping.rounded(weight, "bf16")
    bits = values.numpy().view(np.uint32)
    assert (bits & 0xFFFF == 0).all()  # representable in bfloat16
    relative = np.abs(values.numpy() - weight.numpy()) / np.abs(weight.numpy())
    assert relative.max() <= 2.0**-8  # half a unit in the last of 7 stored mantissa bits


def small_model(cell: str = "lstm", **options) -> LanguageModel:
    torch.manual_seed(0)
    model = LanguageModel(23, 12, 24, 2, cell=cell, **options)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "bias" in name:
                parameter.uniform_(-0.5, 0.5)
        model.decoder.weight.mul_(4.0)
    return model.eval()


CASES = [
    ("lstm", {}),
    ("lstm", {"tie_weights": True}),
    ("lstm", {"weight_drop": 0.5}),
    ("gru", {}),
    ("rnn", {}),
    ("ln_lstm", {}),  # no native step: the torch stepper runs the rounded copy
    ("mingru", {}),
]


@pytest.mark.parametrize("weights", ["bf16", "int8"])
@pytest.mark.parametrize(("cell", "options"), CASES)
def test_rounded_steps_equal_forward_of_the_rounded_model(cell, options, weights) -> None:
    model = small_model(cell, **options)
    tokens = torch.randint(0, 23, (15,), generator=torch.Generator().manual_seed(1)).tolist()
    with torch.inference_mode():
        oracle = stepping.with_rounded_weights(model, weights)
        expected, _ = oracle(torch.tensor([tokens]))
    logits = stepping.step_logits(model, tokens, weights)
    torch.testing.assert_close(logits, expected[0], rtol=1e-5, atol=1e-5)
    # and the rounding matters: float32 steps differ from it
    assert not torch.allclose(stepping.step_logits(model, tokens), logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("weights", ["float32", "bf16", "int8"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_wide_models_steps_equal_forward_of_the_rounded_model(cell, weights) -> None:
    """Hidden 64: every matrix goes through the kernel's blocks of four rows (where the CPU has
    AVX-512), the output layer's 23 rows with three left over for the one-row loop."""
    torch.manual_seed(3)
    model = LanguageModel(23, 64, 64, 2, cell=cell).eval()
    tokens = torch.randint(0, 23, (12,), generator=torch.Generator().manual_seed(5)).tolist()
    with torch.inference_mode():
        oracle = model if weights == "float32" else stepping.with_rounded_weights(model, weights)
        expected, _ = oracle(torch.tensor([tokens]))
    logits = stepping.step_logits(model, tokens, weights)
    torch.testing.assert_close(logits, expected[0], rtol=1e-5, atol=1e-5)


@needs_kernel
def test_the_torch_fall_back_computes_what_the_kernel_does(monkeypatch) -> None:
    model, tokens = small_model("gru"), [3, 1, 4, 1, 5, 9, 2, 6]
    native = stepping.step_logits(model, tokens, "int8")
    monkeypatch.setenv("RNNKIT_NATIVE", "0")
    assert isinstance(stepping.make_stepper(model, "int8"), stepping.TorchStepper)
    torch.testing.assert_close(stepping.step_logits(model, tokens, "int8"), native)


@needs_kernel
@pytest.mark.parametrize("token_id", [-1, 23])
def test_the_native_stepper_refuses_a_token_outside_the_vocabulary(token_id) -> None:
    """The kernel reads the token's table row by address: an id out of range must not get there."""
    model = small_model("lstm")  # vocabulary 23
    with torch.inference_mode():
        stepper = stepping.NativeStepper(model)
        stepper.start(model.initial_state(1))
        with pytest.raises(IndexError, match=f"token id {token_id} is not in 0..22"):
            stepper.step(token_id)


@needs_kernel
def test_prepared_weights_follow_changes_to_the_parameters() -> None:
    model, tokens = small_model("lstm"), [2, 7, 1, 8]
    before = stepping.step_logits(model, tokens, "bf16")
    assert stepping.step_logits(model, tokens, "bf16") is not before
    with torch.no_grad():
        model.rnn.cells[1].weight_hh.mul_(-1.0)  # in place, as an optimiser step does
    with torch.inference_mode():
        expected, _ = stepping.with_rounded_weights(model, "bf16")(torch.tensor([tokens]))
    after = stepping.step_logits(model, tokens, "bf16")
    torch.testing.assert_close(after, expected[0], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(after, before)


def test_two_generations_of_one_model_may_interleave() -> None:
    model = small_model("lstm")
    first = list(model.generate([1, 2], 12, temperature=0.0, weights="int8"))
    a, b = (
        model.generate([1, 2], 12, temperature=0.0, weights="int8"),
        model.generate([5], 12, temperature=0.0, weights="int8"),
    )
    interleaved = [(next(a), next(b)) for _ in range(12)]
    assert [x for x, _ in interleaved] == first


@pytest.mark.parametrize("weights", ["bf16", "int8"])
@pytest.mark.parametrize(
    "options",
    [{"temperature": 0.9, "top_k": 10}, {"temperature": 0.9}],  # sample_next; the Drawer
)
def test_sampling_with_rounded_weights_draws_what_the_rounded_model_draws(weights, options) -> None:
    model = small_model("lstm")
    prime = [2, 5, 11]
    generator = torch.Generator().manual_seed(4)
    fast = list(model.generate(prime, 25, generator=generator, weights=weights, **options))

    oracle, generator = (
        stepping.with_rounded_weights(model, weights),
        torch.Generator().manual_seed(4),
    )
    slow: list[int] = []
    with torch.no_grad():
        logits, state = oracle(torch.tensor([prime]))
        for _ in range(25):
            slow.append(int(sample_next(logits[:, -1], generator=generator, **options)))
            logits, state = oracle(torch.tensor([slow[-1:]]), state)
    assert fast == slow


@needs_kernel
def test_the_drawer_draws_what_sample_next_draws() -> None:
    """Same generator seed, same logits: the same tokens (rows with zero-probability entries
    too), at several temperatures; greedy, top-k and top-p are left to sample_next."""
    rows = torch.Generator().manual_seed(8)
    for temperature in (0.5, 1.0, 1.7):
        fast, slow = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
        drawer = stepping.Drawer.make(temperature, 0, 1.0, fast)
        for index in range(400):
            logits = torch.randn(1, 65, generator=rows) * 3
            if index % 4 == 0:
                logits[0, ::3] = float("-inf")
            expected = int(sample_next(logits, temperature, 0, 1.0, slow))
            assert drawer.draw(logits) == expected, (temperature, index)
    for settings in ((0.0, 0, 1.0), (1.0, 5, 1.0), (1.0, 0, 0.9)):
        assert stepping.Drawer.make(*settings, None) is None
    assert stepping.Drawer.make(1.0, 0, 1.0, None, "meta") is None  # logits off the CPU


def test_reduced_precision_keeps_a_trained_models_loss_within_one_percent() -> None:
    """A small character model trained for a few seconds on a text with structure; its loss on
    held-out text under bf16 and int8 weights stays within 1% of float32's."""
    text = "".join(
        f"the {w} sat on the {m}. " for w in ("cat", "dog", "bird") for m in ("mat", "log")
    )
    vocab = sorted(set(text))
    ids = torch.tensor([vocab.index(ch) for ch in text * 8])
    torch.manual_seed(0)
    model = LanguageModel(len(vocab), 16, 64, 2, cell="lstm")
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    chunks = ids[: (len(ids) // 33) * 33].view(-1, 33)
    for _ in range(60):
        logits, _ = model(chunks[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), chunks[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    held_out = ids[:200].tolist()
    target = torch.tensor(held_out[1:])
    with torch.no_grad():
        reference = F.cross_entropy(model(torch.tensor([held_out]))[0][0, :-1], target)
    assert reference < 1.0  # it learned something, so rounding has something to spoil
    losses = {
        w: F.cross_entropy(stepping.step_logits(model, held_out, w)[:-1], target)
        for w in stepping.WEIGHTS
    }
    torch.testing.assert_close(losses["float32"], reference, rtol=1e-5, atol=1e-5)
    for weights in ("bf16", "int8"):
        assert abs(losses[weights] / reference - 1) < 0.01, (weights, losses, reference)


def test_unknown_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="weights must be one of float32, bf16, int8"):
        small_model().generate([1], 3, weights="fp8")


@pytest.mark.parametrize("cell", ["lstm", "gru", "ln_gru", "minlstm"])
def test_batch_stepper_equals_forward_and_keeps_the_chosen_streams(cell) -> None:
    model = small_model(cell)
    tokens = torch.randint(0, 23, (3, 10), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected, _ = model(tokens)  # (3, 10, V)
        stepper = stepping.BatchStepper(model)
        stepper.start(model.initial_state(3))
        for t in range(6):
            logits = stepper.step(tokens[:, t])
            torch.testing.assert_close(logits, expected[:, t], rtol=1e-5, atol=1e-5)
        stepper.keep(torch.tensor([2, 0]))  # stream 1 is done; the others go on, reordered
        for t in range(6, 8):
            logits = stepper.step(tokens[[2, 0], t])
            torch.testing.assert_close(logits, expected[[2, 0], t], rtol=1e-5, atol=1e-5)
        _, state = model(tokens[[2, 0], :8])
        hidden = torch.cat(list(as_tuple(state)[0]), dim=1)  # (2, L * H), layer-major
        torch.testing.assert_close(stepper.hidden(), hidden, rtol=1e-5, atol=1e-6)
        stepper.keep(torch.tensor([1]))  # one stream left (stream 0): the batch-1 path
        for t in range(8, 10):
            logits = stepper.step(tokens[[0], t])
            torch.testing.assert_close(logits, expected[[0], t], rtol=1e-5, atol=1e-5)
        _, state = model(tokens[[0]])
        hidden = torch.cat(list(as_tuple(state)[0]), dim=1)
        torch.testing.assert_close(stepper.hidden(), hidden, rtol=1e-5, atol=1e-6)


def test_step_bytes_counts_what_one_step_reads() -> None:
    model = small_model("lstm")  # vocab 23, embedding 12, 2 x 24: G = 96
    vectors = 4 * (96 + 96) * 2 + 4 * 23  # both layers' two biases, the output bias
    table_row = 4 * 96  # the first layer's input product, looked up
    matrices = [(96, 24), (96, 24), (96, 24), (23, 24)]  # W_hh first, W_ih and W_hh second, out
    float32 = table_row + vectors + sum(4 * r * c for r, c in matrices)
    int8 = table_row + vectors + sum(r * c + 4 * r for r, c in matrices)
    assert stepping.step_bytes(model) == float32
    assert stepping.step_bytes(model, "bf16") == table_row + vectors + sum(
        2 * r * c for r, c in matrices
    )
    assert stepping.step_bytes(model, "int8") == int8
