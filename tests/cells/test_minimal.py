"""minGRU / minLSTM: step against the paper's equations, scan against the step loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.cells import minimal
from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell, linear_scan

CELLS = [MinGRUCell, MinLSTMCell]
F64 = torch.float64


# --- oracles written from the paper, independent of the cell's code -----------------------------


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _g(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, v + 0.5, _sigmoid(v))


def _paper_step(cell, x_t: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One step of Feng et al. (2024), Algorithms for minGRU / minLSTM, in NumPy float64."""
    weight = cell.weight_ih.detach().numpy()
    bias = cell.bias_ih.detach().numpy()
    pre = x_t @ weight.T + bias
    hidden = cell.hidden_size
    if isinstance(cell, MinGRUCell):
        z = _sigmoid(pre[:, :hidden])
        h_tilde = _g(pre[:, hidden:])
        return (1 - z) * h + z * h_tilde
    f = _sigmoid(pre[:, :hidden])
    i = _sigmoid(pre[:, hidden : 2 * hidden])
    h_tilde = _g(pre[:, 2 * hidden :])
    f_norm, i_norm = f / (f + i), i / (f + i)
    return f_norm * h + i_norm * h_tilde


def _step_loop(cell, u, h0, mask=None):
    """The semantics ``scan`` must reproduce: ``step`` per time step, masked steps carry state."""
    h, outputs = h0, []
    for t, u_t in enumerate(u.unbind(1)):
        h_new, _ = cell.step(u_t, h)
        if mask is None:
            h = h_new
            outputs.append(h)
        else:
            keep = mask[:, t].unsqueeze(-1)
            h = torch.where(keep, h_new, h)
            outputs.append(torch.where(keep, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs, dim=1), h


def _mask(kind: str, batch: int, steps: int) -> torch.Tensor | None:
    if kind == "none":
        return None
    if kind == "lengths":  # padded batch: each row real up to its own length
        lengths = torch.randint(1, steps + 1, (batch,))
        lengths[0] = steps
        return torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)
    return torch.rand(batch, steps) > 0.4  # arbitrary holes, whole rows of them included


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell_class", CELLS)
def test_step_follows_the_papers_equations(cell_class):
    cell = cell_class(5, 4, init="uniform").double()
    with torch.no_grad():
        cell.bias_ih.uniform_(-1.0, 1.0)
    x = torch.randn(6, 3, 5, dtype=F64) * 2
    h = torch.randn(3, 4, dtype=F64)
    h_ref = h.numpy()
    for x_t in x.unbind(0):
        h, state = cell(x_t, h)  # project + step
        h_ref = _paper_step(cell, x_t.numpy(), h_ref)
        np.testing.assert_allclose(h.detach().numpy(), h_ref, rtol=1e-12, atol=1e-12)
        assert state is h


@pytest.mark.parametrize("cell_class", CELLS)
def test_shapes_and_weight_layout(cell_class):
    cell = cell_class(7, 3)
    assert cell.gate_size == cell.num_gates * 3 == cell.weight_ih.shape[0]
    assert cell.weight_ih.shape[1] == 7 and torch.all(cell.bias_ih == 0)
    assert cell_class(7, 3, bias=False).bias_ih is None
    u = cell.project(torch.randn(2, 5, 7))
    outputs, final = cell.scan(u, cell.initial_state(2))
    assert outputs.shape == (2, 5, 3) and final.shape == (2, 3)
    with pytest.raises(ValueError, match="features"):
        cell.scan(u[..., :-1], cell.initial_state(2))
    with pytest.raises(ValueError, match="mask"):
        cell.scan(u, cell.initial_state(2), torch.ones(2, 4, dtype=torch.bool))


@pytest.fixture(params=["one block", "blocks of 16 steps"])
def time_blocks(request, monkeypatch):
    """The scan works through time in blocks on CPU; cover block boundaries at small sizes."""
    if request.param != "one block":
        monkeypatch.setattr(minimal, "_BLOCK_ELEMENTS", 4 * 5 * 16)  # batch * hidden * 16


@pytest.mark.parametrize("steps", [1, 37, 300])
@pytest.mark.parametrize("mask_kind", ["none", "lengths", "holes"])
@pytest.mark.parametrize("cell_class", CELLS)
def test_scan_equals_step_loop_with_gradients(cell_class, mask_kind, steps, time_blocks):
    batch = 4  # and hidden size 5
    cell = cell_class(6, 5).double()
    with torch.no_grad():
        cell.bias_ih.normal_()
    x = torch.randn(batch, steps, 6, dtype=F64) * 2
    h0 = torch.randn(batch, 5, dtype=F64, requires_grad=True)
    mask = _mask(mask_kind, batch, steps)
    out_weights = torch.randn(batch, steps, 5, dtype=F64)
    final_weights = torch.randn(batch, 5, dtype=F64)
    params = list(cell.parameters())

    def run(sequence_fn):
        u = cell.project(x)
        outputs, final = sequence_fn(cell, u, h0, mask)
        loss = (outputs * out_weights).sum() + (final * final_weights).sum()
        return outputs, final, torch.autograd.grad(loss, [u, h0, *params])

    scan_out, scan_final, scan_grads = run(lambda c, u, h, m: c.scan(u, h, m))
    loop_out, loop_final, loop_grads = run(_step_loop)
    torch.testing.assert_close(scan_out, loop_out, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(scan_final, loop_final, rtol=1e-10, atol=1e-10)
    for name, got, want in zip(
        ["u", "h0", "weight_ih", "bias_ih"], scan_grads, loop_grads, strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10, msg=f"gradient of {name}")
    if mask is not None:
        assert torch.all(scan_out[~mask] == 0)


@pytest.mark.parametrize("cell_class", CELLS)
def test_scan_and_step_agree_at_exact_zero_preactivations(cell_class):
    """``g`` has a kink at 0 (left slope 1/4, right slope 1); both paths must pick the same side."""
    cell = cell_class(3, 4).double()
    u = torch.randint(-1, 2, (2, 20, cell.gate_size)).double().requires_grad_()  # many exact 0s
    h0 = torch.zeros(2, 4, dtype=F64)
    weights = torch.randn(2, 20, 4, dtype=F64)
    (scan_grad,) = torch.autograd.grad((cell.scan(u, h0)[0] * weights).sum(), u)
    (loop_grad,) = torch.autograd.grad((_step_loop(cell, u, h0)[0] * weights).sum(), u)
    torch.testing.assert_close(scan_grad, loop_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mask_kind", ["none", "holes"])
@pytest.mark.parametrize("cell_class", CELLS)
def test_scan_gradcheck(cell_class, mask_kind, monkeypatch):
    monkeypatch.setattr(minimal, "_BLOCK_ELEMENTS", 2 * 2 * 16)  # time blocks of 16 and 5 steps
    cell = cell_class(3, 2).double()
    steps = 21
    u = torch.randn(2, steps, cell.gate_size, dtype=F64, requires_grad=True)
    h0 = torch.randn(2, 2, dtype=F64, requires_grad=True)
    mask = _mask(mask_kind, 2, steps)
    assert torch.autograd.gradcheck(lambda u, h: cell.scan(u, h, mask), (u, h0), fast_mode=True)


@pytest.mark.parametrize("steps", [5, 16, 100, 300])
@pytest.mark.parametrize("reverse", [False, True])
def test_linear_scan_equals_numpy_recurrence(steps, reverse):
    a = torch.rand(3, steps, 4, dtype=F64)
    b = torch.randn(3, 1, 4, dtype=F64).expand(3, steps, 4)  # strided input (stride 0 in time)
    h_init = torch.randn(3, 4, dtype=F64)
    want = np.empty((3, steps, 4))
    h = h_init.numpy()
    for t in reversed(range(steps)) if reverse else range(steps):
        h = a[:, t].numpy() * h + b[:, t].numpy()
        want[:, t] = h
    np.testing.assert_allclose(linear_scan(a, b, h_init, reverse=reverse).numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("cell_class", CELLS)
def test_long_float32_scan_is_finite_and_close_to_float64_loop(cell_class):
    steps, batch = 4096, 2
    cell = cell_class(3, 4)
    x = torch.randn(batch, steps, 3) * 4  # gates near 0 and 1: long products underflow
    h0 = torch.randn(batch, 4)

    u32 = cell.project(x).detach().requires_grad_()
    out32, final32 = cell.scan(u32, h0)
    out32.sum().backward()
    cell64 = cell_class(3, 4).double()
    cell64.load_state_dict(cell.state_dict())
    with torch.no_grad():
        out64, final64 = _step_loop(cell64, cell64.project(x.double()), h0.double())

    u64 = cell64.project(x.double()).detach().requires_grad_()
    cell64.scan(u64, h0.double())[0].sum().backward()  # float64 scan == loop: tested above

    assert torch.isfinite(out32).all() and torch.isfinite(u32.grad).all()
    torch.testing.assert_close(out32.double(), out64, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(final32.double(), final64, rtol=1e-4, atol=1e-4)
    scale = u64.grad.abs().max()
    torch.testing.assert_close(u32.grad.double() / scale, u64.grad / scale, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell_class", CELLS)
def test_preferred_backend_loops_short_sequences_and_scans_long_ones(cell_class):
    cell = cell_class(3, 4)
    cpu = torch.device("cpu")
    assert cell.preferred_backend(1, cpu) == "loop"
    assert cell.preferred_backend(minimal.SCAN_FROM_STEPS - 1, cpu) == "loop"
    assert cell.preferred_backend(minimal.SCAN_FROM_STEPS, cpu) == "scan"
    assert cell.preferred_backend(4096, cpu) == "scan"
