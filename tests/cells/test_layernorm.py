"""LayerNorm-LSTM/GRU cells: ``step`` against the equations of Ba et al. (2016) written out here in
plain torch, and the hand-written ``fused_sequence`` kernels against the step loop (values and
gradients) and against finite differences (``gradcheck``)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from rnnkit.cells import LayerNormGRUCell, LayerNormLSTMCell
from rnnkit.native import layernorm as native_layernorm

EPS = 1e-5


def layer_norm(a: Tensor, gain: Tensor, shift: Tensor | None) -> Tensor:
    """Normalise each row over its last dimension (biased variance), then scale and shift."""
    mean = a.mean(dim=-1, keepdim=True)
    var = ((a - mean) ** 2).mean(dim=-1, keepdim=True)
    out = gain * (a - mean) / torch.sqrt(var + EPS)
    return out if shift is None else out + shift


def ln_lstm_step_oracle(p: dict[str, Tensor], x: Tensor, h: Tensor, c: Tensor):
    gates = layer_norm(x @ p["weight_ih"].t(), p["gain_ih"], p.get("bias_ih")) + layer_norm(
        h @ p["weight_hh"].t(), p["gain_hh"], p.get("bias_hh")
    )
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(layer_norm(c, p["gain_c"], p.get("bias_c")))
    return h, (h, c)


def ln_gru_step_oracle(p: dict[str, Tensor], x: Tensor, h: Tensor):
    a_r, a_z, a_n = layer_norm(x @ p["weight_ih"].t(), p["gain_ih"], p.get("bias_ih")).chunk(3, 1)
    b_r, b_z, b_n = layer_norm(h @ p["weight_hh"].t(), p["gain_hh"], p.get("bias_hh")).chunk(3, 1)
    r = torch.sigmoid(a_r + b_r)
    z = torch.sigmoid(a_z + b_z)
    n = torch.tanh(a_n + r * b_n)
    h = (1 - z) * n + z * h
    return h, h


def perturbed(cell: nn.Module, dtype: torch.dtype = torch.float64) -> nn.Module:
    """The cell in ``dtype`` with gains and shifts moved away from their initial 1 and 0, so that
    a gain or shift that is ignored or misplaced changes the result."""
    cell = cell.to(dtype)
    with torch.no_grad():
        for param in cell.parameters():
            param.add_(0.3 * torch.randn_like(param))
    return cell


def random_state(cell: nn.Module, batch: int, dtype: torch.dtype = torch.float64):
    parts = tuple(torch.randn(batch, size, dtype=dtype) for size in cell.state_sizes)
    return parts if len(parts) > 1 else parts[0]


def as_list(state) -> list[Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


def reference_loop(cell: nn.Module, u: Tensor, state, mask: Tensor | None):
    """The documented semantics: ``step`` per time step; where ``mask[b, t]`` is False row b keeps
    its state and outputs zero."""
    outputs = []
    for t, u_t in enumerate(u.unbind(1)):
        h, new_state = cell.step(u_t, state)
        if mask is not None:
            real = mask[:, t : t + 1]
            new_state = tuple(
                torch.where(real, new, old)
                for new, old in zip(as_list(new_state), as_list(state), strict=True)
            )
            new_state = new_state if len(new_state) > 1 else new_state[0]
            h = h * real
        outputs.append(h)
        state = new_state
    return torch.stack(outputs, dim=1), state


def random_lengths_mask(batch: int, steps: int) -> Tensor:
    """``(B, T)`` bool, True for the real steps: random lengths, one full row and one short."""
    lengths = torch.randint(1, steps + 1, (batch,))
    lengths[0], lengths[1] = steps, steps // 2
    return torch.arange(steps) < lengths.unsqueeze(1)


CELLS = [
    pytest.param(LayerNormLSTMCell, id="ln_lstm"),
    pytest.param(LayerNormGRUCell, id="ln_gru"),
]


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_step_matches_the_equations(bias: bool) -> None:
    cell = perturbed(LayerNormLSTMCell(4, 6, bias=bias))
    params = dict(cell.named_parameters())
    x = torch.randn(3, 4, dtype=torch.float64)
    h, c = random_state(cell, 3)
    out, (h1, c1) = cell(x, (h, c))
    want, (want_h, want_c) = ln_lstm_step_oracle(params, x, h, c)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(h1, want_h, rtol=0, atol=1e-12)
    torch.testing.assert_close(c1, want_c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_step_matches_the_equations(bias: bool) -> None:
    cell = perturbed(LayerNormGRUCell(4, 6, bias=bias))
    params = dict(cell.named_parameters())
    x = torch.randn(3, 4, dtype=torch.float64)
    h = random_state(cell, 3)
    out, h1 = cell(x, h)
    want, _ = ln_gru_step_oracle(params, x, h)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(h1, want, rtol=0, atol=1e-12)


def test_initialisation_follows_the_design() -> None:
    hidden = 8
    lstm = LayerNormLSTMCell(5, hidden, forget_bias=1.5)
    for gain in (lstm.gain_ih, lstm.gain_hh, lstm.gain_c):
        assert torch.equal(gain, torch.ones_like(gain))
    expected_ih = torch.zeros(4 * hidden)
    expected_ih[hidden : 2 * hidden] = 1.5
    assert torch.equal(lstm.bias_ih.detach(), expected_ih)
    assert not lstm.bias_hh.any() and not lstm.bias_c.any()
    for block in lstm.weight_hh.detach().chunk(4, dim=0):
        torch.testing.assert_close(block @ block.t(), torch.eye(hidden), atol=1e-5, rtol=0)
    gru = LayerNormGRUCell(5, hidden, bias=False)
    assert gru.bias_ih is None and gru.bias_hh is None
    assert {name for name, _ in gru.named_parameters()} == {
        "weight_ih", "weight_hh", "gain_ih", "gain_hh"
    }  # fmt: skip


@pytest.mark.parametrize("cell_class", CELLS)
@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
def test_fused_sequence_equals_the_step_loop(cell_class, masked: bool) -> None:
    batch, steps = 4, 9
    cell = perturbed(cell_class(3, 5))
    x = torch.randn(batch, steps, 3, dtype=torch.float64)
    state = random_state(cell, batch)
    mask = random_lengths_mask(batch, steps) if masked else None
    u = cell.project(x).detach().requires_grad_()
    for part in as_list(state):
        part.requires_grad_()

    want_out, want_final = reference_loop(cell, u, state, mask)
    got_out, got_final = cell.fused_sequence(u, state, mask)
    torch.testing.assert_close(got_out, want_out, rtol=0, atol=1e-10)
    for got, want in zip(as_list(got_final), as_list(want_final), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    if mask is not None:
        assert not got_out[~mask].any()
    with torch.no_grad():  # the inference path keeps no per-step buffers
        no_grad_out, no_grad_final = cell.fused_sequence(u, state, mask)
    torch.testing.assert_close(no_grad_out, want_out, rtol=0, atol=1e-10)
    for got, want in zip(as_list(no_grad_final), as_list(want_final), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)

    # One random weighting of every output, so each gradient path is exercised.
    weights = [torch.randn_like(t) for t in [want_out, *as_list(want_final)]]
    inputs = [u, *as_list(state), *cell.parameters()]

    def gradients(out, final):
        loss = sum((w * t).sum() for w, t in zip(weights, [out, *as_list(final)], strict=True))
        return torch.autograd.grad(loss, inputs, allow_unused=True)

    names = ["u", *[f"state{k}" for k in range(len(as_list(state)))]]
    names += [name for name, _ in cell.named_parameters()]
    for name, got, want in zip(
        names, gradients(got_out, got_final), gradients(want_out, want_final), strict=True
    ):
        if name in ("weight_ih", "gain_ih", "bias_ih"):  # u is a leaf here: no path to them
            assert got is None and want is None
            continue
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10, msg=f"gradient of {name}")


@pytest.mark.parametrize("cell_class", CELLS)
def test_fused_sequence_gradients_reach_the_input_weights(cell_class) -> None:
    cell = perturbed(cell_class(3, 4))
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    got = torch.autograd.grad(cell.fused_sequence(cell.project(x))[0].sum(), cell.weight_ih)[0]
    want = torch.autograd.grad(reference_loop(cell, cell.project(x), cell.initial_state(2,
        dtype=torch.float64), None)[0].sum(), cell.weight_ih)[0]  # fmt: skip
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("cell_class", CELLS)
def test_fused_sequence_float32_agrees_with_the_step_loop(cell_class, kernel_path: str) -> None:
    cell = perturbed(cell_class(16, 32), torch.float32)
    x = torch.randn(8, 20, 16)
    mask = random_lengths_mask(8, 20)
    u = cell.project(x)
    want_out, want_final = reference_loop(cell, u, cell.initial_state(8), mask)
    got_out, got_final = cell.fused_sequence(u, None, mask)
    torch.testing.assert_close(got_out, want_out, rtol=0, atol=1e-5)
    for got, want in zip(as_list(got_final), as_list(want_final), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    with torch.no_grad():  # inference keeps no per-step buffers: the same numbers all the same
        inference_out, inference_final = cell.fused_sequence(u, None, mask)
    torch.testing.assert_close(inference_out, got_out, rtol=0, atol=0)
    for got, want in zip(as_list(inference_final), as_list(got_final), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.fixture(params=["native", "torch"])
def kernel_path(request, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a float32 test on both paths of the LN-LSTM: the C kernel (where it builds) and the
    pure-torch one (``RNNKIT_NATIVE=0``)."""
    if request.param == "native":
        if native_layernorm.kernel() is None:
            pytest.skip("the native LN-LSTM kernel could not be built here")
    else:
        monkeypatch.setenv("RNNKIT_NATIVE", "0")
    return request.param


@pytest.mark.parametrize("cell_class", CELLS)
@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("hidden", [32, 13])  # 13: rows that are no multiple of a vector's width
def test_fused_sequence_float32_gradients_agree_with_float64(
    cell_class, masked: bool, bias: bool, hidden: int, kernel_path: str
) -> None:
    """float32 takes the packed-weight products on CPU (``RecurrentProduct``) and, for the
    LN-LSTM, the C kernel: its gradients must match the float64 step loop's to float32 accuracy
    (measured as a whole: 20 steps of a perturbed cell amplify single entries' rounding, and
    both paths were seen at up to 1.5e-5 relative; a wrong term gives errors of order one)."""
    cell64 = perturbed(cell_class(16, hidden, bias=bias))
    cell32 = cell_class(16, hidden, bias=bias).float()
    cell32.load_state_dict({k: v.float() for k, v in cell64.state_dict().items()})
    u64 = torch.randn(8, 20, cell64.gate_size, dtype=torch.float64)
    state64 = random_state(cell64, 8)
    mask = random_lengths_mask(8, 20) if masked else None

    def gradients(cell, u, state, run):
        u = u.detach().clone().requires_grad_()
        parts = [s.detach().clone().requires_grad_() for s in as_list(state)]
        packed = tuple(parts) if len(parts) > 1 else parts[0]
        out, final = run(cell, u, packed)
        weights = torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)
        loss = (out * weights).sum() + sum(s.sum() for s in as_list(final))
        recurrent = [p for name, p in cell.named_parameters() if "_ih" not in name]
        return torch.autograd.grad(loss, [u, *parts, *recurrent])

    want = gradients(cell64, u64, state64, lambda c, u, s: reference_loop(c, u, s, mask))
    got = gradients(cell32, u64.float(), state64, lambda c, u, s: c.fused_sequence(u, s, mask))
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert ((g.double() - w).norm() / w.norm()).item() < 1e-4


class _FusedRun(nn.Module):
    """Lets ``gradcheck`` treat the cell's parameters as inputs (via ``functional_call``)."""

    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, u: Tensor, state, mask: Tensor | None):
        out, final = self.cell.fused_sequence(u, state, mask)
        return (out, *as_list(final))


@pytest.mark.parametrize("cell_class", CELLS)
@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
def test_fused_sequence_passes_gradcheck(cell_class, masked: bool) -> None:
    batch, steps = 2, 4
    run = _FusedRun(perturbed(cell_class(2, 3)))
    names = [f"cell.{name}" for name, _ in run.cell.named_parameters() if "_ih" not in name]
    params = [p.detach().clone().requires_grad_() for n, p in run.named_parameters() if n in names]
    u = torch.randn(batch, steps, run.cell.gate_size, dtype=torch.float64, requires_grad=True)
    state = [s.requires_grad_() for s in as_list(random_state(run.cell, batch))]
    mask = random_lengths_mask(batch, steps) if masked else None

    def fused(u, *rest):
        state_parts, weights = rest[: len(state)], rest[len(state) :]
        packed = tuple(state_parts) if len(state_parts) > 1 else state_parts[0]
        return functional_call(run, dict(zip(names, weights, strict=True)), (u, packed, mask))

    assert torch.autograd.gradcheck(fused, (u, *state, *params), fast_mode=True)


@pytest.mark.parametrize("cell_class", CELLS)
def test_fused_sequence_rejects_a_wrong_input_width(cell_class) -> None:
    cell = cell_class(3, 4)
    with pytest.raises(ValueError, match=f"\\(B, T >= 1, {cell.gate_size}\\)"):
        cell.fused_sequence(torch.randn(2, 5, cell.gate_size + 1))
    with pytest.raises(ValueError, match="bool mask"):
        cell.fused_sequence(torch.randn(2, 5, cell.gate_size), None, torch.ones(2, 5))
