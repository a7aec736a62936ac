"""Layer-normalised LSTM and GRU cells (Ba, Kiros & Hinton 2016, "Layer Normalization").

Layer normalisation of a vector ``a`` of width ``N`` with gain ``gamma`` and shift ``beta``::

    LN(a; gamma, beta) = gamma * (a - mean(a)) / sqrt(var(a) + eps) + beta

with the mean and (biased) variance taken over the ``N`` features of each row. The input product
``W_ih x`` and the recurrent product ``W_hh h`` are normalised separately, each over its whole gate
vector (4H or 3H wide) as in Ba et al., eq. (20). The input half belongs to ``project``, so it runs
for all time steps at once; only the recurrent half runs step by step.

Besides ``step``, each cell offers ``fused_sequence``: the whole recurrence over T as one
``torch.autograd.Function`` whose backward pass is written out by hand. It saves the gate
activations in the forward loop, precomputes every factor of the backward pass that does not depend
on the incoming gradient for all steps at once, and leaves the weight gradients to one large matrix
product after the reverse loop. It computes the same function as running ``step`` in a loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import Cell, InitScheme, init_recurrent_weights

LSTMState = tuple[Tensor, Tensor]


def _layer_norm_input_grad(
    grad: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, gain: Tensor | None
) -> Tensor:
    """Gradient of ``LN(x)`` with respect to ``x`` only (the gain and shift gradients are
    accumulated once for all steps): ``grad, x (B, N)``, ``mean, rstd (B, 1)`` -> ``(B, N)``."""
    width = x.shape[-1]
    dx, _, _ = torch.ops.aten.native_layer_norm_backward(
        grad, x, [width], mean, rstd, gain, None, [True, False, False]
    )
    return dx


def _layer_norm_param_grads(
    grad: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, gain: Tensor, shift: Tensor | None
) -> tuple[Tensor, Tensor | None]:
    """Gradients of ``LN(x; gain, shift)`` with respect to gain and shift, summed over all rows:
    ``grad, x (..., N)``, ``mean, rstd (..., 1)`` -> ``(N,)`` each (None for a missing shift)."""
    width = x.shape[-1]
    _, grad_gain, grad_shift = torch.ops.aten.native_layer_norm_backward(
        grad.reshape(-1, width), x.reshape(-1, width), [width], mean.reshape(-1, 1),
        rstd.reshape(-1, 1), gain, shift, [False, True, shift is not None],
    )  # fmt: skip
    return grad_gain, grad_shift


def _step_masks(mask: Tensor | None, like: Tensor) -> tuple[list[bool], Tensor | None]:
    """From ``mask (B, T)`` bool: per step whether every row is real, and the float mask
    ``keep (T, B, 1)`` in ``like``'s dtype. Without a mask every step is full."""
    if mask is None:
        return [True] * like.shape[1], None
    return mask.all(dim=0).tolist(), mask.t().unsqueeze(-1).to(like.dtype)


def _needs_backward(tensors: tuple[Tensor | None, ...]) -> bool:
    """Whether autograd will call for a backward pass through a function of ``tensors``."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _outputs(hs: Tensor, keep: Tensor | None) -> Tensor:
    """Outputs ``(B, T, H)`` from the states ``hs (T + 1, B, H)``, zero where masked."""
    outputs = hs[1:] if keep is None else hs[1:] * keep
    return outputs.transpose(0, 1).contiguous()


def _check_sequence_input(cell: Cell, u: Tensor, mask: Tensor | None) -> None:
    if u.dim() != 3 or u.shape[-1] != cell.gate_size or u.shape[1] == 0:
        raise ValueError(
            f"expected u of shape (B, T >= 1, {cell.gate_size}) from project(), "
            f"got {tuple(u.shape)}"
        )
    if mask is not None:
        if mask.dtype != torch.bool or mask.shape != u.shape[:2]:
            raise ValueError(
                f"expected a bool mask of shape {tuple(u.shape[:2])}, "
                f"got {mask.dtype} of shape {tuple(mask.shape)}"
            )


# --- LSTM -----------------------------------------------------------------------------------------


class _LayerNormLSTMSequence(torch.autograd.Function):
    """The LN-LSTM recurrence over a whole sequence with a hand-written backward pass.

    Inside, tensors are time-major: ``(T, B, .)``. Buffers that hold one entry per state carry
    ``T + 1`` entries, index 0 being the initial state. Both tanh's are taken as
    ``tanh(x) = 2 * sigmoid(2 x) - 1``, the factor 2 folded into the normalisations' gains and
    shifts: on CPU torch's tanh costs several times its sigmoid.
    """

    @staticmethod
    def forward(
        ctx,
        u: Tensor,
        h0: Tensor,
        c0: Tensor,
        mask: Tensor | None,
        weight_hh: Tensor,
        gain_hh: Tensor,
        bias_hh: Tensor | None,
        gain_c: Tensor,
        bias_c: Tensor | None,
        eps: float,
        needs_backward: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        batch, steps, gates_width = u.shape
        hidden = gates_width // 4
        full, keep = _step_masks(mask, u)
        # Doubling the g block turns sigmoid(2 g) into tanh(g) = 2 sigmoid(2 g) - 1.
        scale = u.new_ones(gates_width)
        scale[2 * hidden : 3 * hidden] = 2.0
        gain_hh2 = gain_hh * scale
        bias_hh2 = None if bias_hh is None else bias_hh * scale
        gain_c2 = 2.0 * gain_c
        bias_c2 = None if bias_c is None else 2.0 * bias_c

        hs = u.new_empty(steps + 1, batch, hidden)  # states h_t (carried over where masked)
        cs = u.new_empty(steps + 1, batch, hidden)  # states c_t
        hs[0], cs[0] = h0, c0
        # What the backward pass needs, one slot per step; without a backward pass to serve,
        # a single slot, reused, which stays in cache.
        slots = steps if needs_backward else 1
        rec = u.new_empty(slots, batch, gates_width)  # recurrent products W_hh h_{t-1}
        acts = u.new_empty(slots, batch, gates_width)  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        tanh_cn = u.new_empty(slots, batch, hidden)  # tanh(LN(c_t))
        rec_stats, cell_stats = [], []
        weight_t = weight_hh.t()
        h_steps, c_steps = hs.unbind(0), cs.unbind(0)
        for t, u_t in enumerate(u.unbind(1)):
            slot = t % slots
            h, c, h_new, c_new = h_steps[t], c_steps[t], h_steps[t + 1], c_steps[t + 1]
            p = torch.mm(h, weight_t, out=rec[slot])
            pre, mean, rstd = torch.native_layer_norm(p, [gates_width], gain_hh2, bias_hh2, eps)
            i, f, g, o = torch.sigmoid(pre.addcmul_(u_t, scale), out=acts[slot]).chunk(4, dim=1)
            g.mul_(2.0).sub_(1.0)
            torch.mul(f, c, out=c_new).addcmul_(i, g)
            cn2, mean_c, rstd_c = torch.native_layer_norm(c_new, [hidden], gain_c2, bias_c2, eps)
            tanh_c = torch.sigmoid(cn2, out=tanh_cn[slot]).mul_(2.0).sub_(1.0)
            torch.mul(o, tanh_c, out=h_new)
            if not full[t]:
                real = mask[:, t : t + 1]
                h_new.copy_(torch.where(real, h_new, h))
                c_new.copy_(torch.where(real, c_new, c))
            if slots > 1:
                rec_stats.append((mean, rstd))
                cell_stats.append((mean_c, rstd_c))
        if slots == 1:  # nothing to save
            return _outputs(hs, keep), hs[steps].clone(), cs[steps].clone()
        ctx.full = full
        ctx.buffers = (hs, cs, rec, acts, tanh_cn, keep)
        ctx.stats = [torch.stack(s) for s in zip(*rec_stats, strict=True)]
        ctx.stats += [torch.stack(s) for s in zip(*cell_stats, strict=True)]
        ctx.save_for_backward(weight_hh, gain_hh, bias_hh, gain_c, bias_c)
        return _outputs(hs, keep), hs[steps].clone(), cs[steps].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor, grad_h: Tensor, grad_c: Tensor):
        weight_hh, gain_hh, bias_hh, gain_c, bias_c = ctx.saved_tensors
        hs, cs, rec, acts, tanh_cn, keep = ctx.buffers
        mean_p, rstd_p, mean_c, rstd_c = ctx.stats
        steps, batch, hidden = tanh_cn.shape
        carry = None if keep is None else 1.0 - keep

        # Every factor that does not depend on the incoming gradient, for all steps at once
        # (sigmoid' = s (1 - s), tanh' = 1 - tanh^2): with dh, dc the gradients reaching h_t, c_t,
        # d gates = [dc * F_i, dc * F_f, dc * F_g, dh * F_o] and d LN(c_t) = dh * F_cn.
        i, f, g, o = acts.chunk(4, dim=2)
        factors = torch.addcmul(acts, acts, acts, value=-1.0)  # s (1 - s); g's block replaced
        f_i, f_f, f_g, f_o = factors.chunk(4, dim=2)
        f_i.mul_(g)
        f_f.mul_(cs[:-1])
        torch.addcmul(i, i, torch.mul(g, g, out=f_g), value=-1.0, out=f_g)
        f_o.mul_(tanh_cn)
        f_cn = torch.mul(tanh_cn, tanh_cn)
        torch.addcmul(o, o, f_cn, value=-1.0, out=f_cn)

        grad_u = torch.empty_like(rec)  # d gates = d u = d LN(W_hh h_{t-1})
        grad_rec = torch.empty_like(rec)  # d (W_hh h_{t-1})
        grad_cn = torch.empty_like(tanh_cn)  # d LN(c_t)
        # Per-step views, made once: indexing inside the loop costs more than the arithmetic.
        per_step = [
            x.unbind(0)
            for x in (grad_out.transpose(0, 1), grad_u, grad_rec, grad_cn, f_cn, f_o, f)
            + (cs[1:], rec, mean_p, rstd_p, mean_c, rstd_c)
        ]
        gate_factors = factors.view(steps, batch, 4, hidden)[:, :, :3].unbind(0)
        dh_next, dc_next = grad_h.contiguous(), grad_c.contiguous()
        for t in reversed(range(steps)):
            g_out, du, dp, dcn, fcn, fo, ft, c_t, p, mp, rp, mc, rc = (x[t] for x in per_step)
            dh = g_out + dh_next
            dc = dc_next
            if not ctx.full[t]:
                dh = dh * keep[t]
                dc = dc * keep[t]
            torch.mul(dh, fcn, out=dcn)
            dc = _layer_norm_input_grad(dcn, c_t, mc, rc, gain_c).add_(dc)
            du_blocks = du.view(batch, 4, hidden)
            torch.mul(dc.unsqueeze(1), gate_factors[t], out=du_blocks[:, :3])
            torch.mul(dh, fo, out=du_blocks[:, 3])
            dp.copy_(_layer_norm_input_grad(du, p, mp, rp, gain_hh))
            if ctx.full[t]:
                dh_next = torch.mm(dp, weight_hh)
                dc_next = dc.mul_(ft)
            else:
                dh_next = torch.addmm(dh_next * carry[t], dp, weight_hh)
                dc_next = torch.addcmul(dc_next * carry[t], dc, ft)

        gates_width = 4 * hidden
        grad_weight_hh = grad_rec.view(-1, gates_width).t() @ hs[:-1].reshape(-1, hidden)
        grad_gain_hh, grad_bias_hh = _layer_norm_param_grads(
            grad_u, rec, mean_p, rstd_p, gain_hh, bias_hh
        )
        grad_gain_c, grad_bias_c = _layer_norm_param_grads(
            grad_cn, cs[1:], mean_c, rstd_c, gain_c, bias_c
        )
        return (
            grad_u.transpose(0, 1), dh_next, dc_next, None, grad_weight_hh,
            grad_gain_hh, grad_bias_hh, grad_gain_c, grad_bias_c, None, None,
        )  # fmt: skip


class LayerNormLSTMCell(Cell):
    """LSTM cell with layer normalisation (Ba et al. 2016), gate order i, f, g, o as in torch.

    With ``a = LN(W_ih x_t; gain_ih, bias_ih)`` computed by ``project`` for all steps::

        [i, f, g, o] = a + LN(W_hh h_{t-1}; gain_hh, bias_hh)      each (B, H) of the (B, 4H)
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(LN(c_t; gain_c, bias_c))

    Both gate normalisations run over all 4H features. Parameters: ``weight_ih (4H, I)``,
    ``weight_hh (4H, H)``, gains ``gain_ih, gain_hh (4H,)``, ``gain_c (H,)`` and, when ``bias``,
    shifts ``bias_ih, bias_hh (4H,)``, ``bias_c (H,)`` (the shifts of the two gate normalisations
    together play the role of torch's two LSTM biases). State: ``(h (B, H), c (B, H))``.

    Initialisation: weights per ``init`` (DESIGN.md), gains one, ``bias_c`` zero; with
    ``init="xavier_orthogonal"`` the gate shifts start at zero except the forget block of
    ``bias_ih``, which starts at ``forget_bias``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
        forget_bias: float = 1.0,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.gate_size = 4 * hidden_size
        self.bias = bias
        self.init = init
        self.forget_bias = forget_bias
        self.eps = eps
        g, h = self.gate_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, h))
        self.gain_ih = nn.Parameter(torch.empty(g))
        self.gain_hh = nn.Parameter(torch.empty(g))
        self.gain_c = nn.Parameter(torch.empty(h))
        for name, size in [("bias_ih", g), ("bias_hh", g), ("bias_c", h)]:
            self.register_parameter(name, nn.Parameter(torch.empty(size)) if bias else None)
        self.reset_parameters()

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size)

    def reset_parameters(self) -> None:
        biases = [self.bias_ih, self.bias_hh] if self.bias else []
        init_recurrent_weights(
            self.weight_ih, self.weight_hh, biases, num_gates=4, scheme=self.init,
            hidden_size=self.hidden_size,
        )  # fmt: skip
        with torch.no_grad():
            for gain in (self.gain_ih, self.gain_hh, self.gain_c):
                gain.fill_(1.0)
            if self.bias:
                self.bias_c.zero_()
                if self.init != "uniform":
                    h = self.hidden_size
                    self.bias_ih[h : 2 * h].fill_(self.forget_bias)

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, I) -> (B, T, 4H)``: the normalised input product, ``LN(W_ih x)``."""
        return F.layer_norm(
            x @ self.weight_ih.t(), (self.gate_size,), self.gain_ih, self.bias_ih, self.eps
        )

    def step(self, u_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """``u_t (B, 4H)``, ``(h, c)`` each ``(B, H)`` -> ``(h_t, (h_t, c_t))``."""
        h, c = state
        recurrent = F.layer_norm(
            h @ self.weight_hh.t(), (self.gate_size,), self.gain_hh, self.bias_hh, self.eps
        )
        i, f, g, o = (u_t + recurrent).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        cell = F.layer_norm(c, (self.hidden_size,), self.gain_c, self.bias_c, self.eps)
        h = torch.sigmoid(o) * torch.tanh(cell)
        return h, (h, c)

    def fused_sequence(
        self, u: Tensor, state: LSTMState | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, LSTMState]:
        """The whole recurrence in one autograd Function: the same result as ``step`` in a loop.

        ``u (B, T, 4H)`` from ``project``; ``state`` ``(h, c)`` each ``(B, H)`` or None for zeros;
        ``mask (B, T)`` bool or None: where ``mask[b, t]`` is False row b's state carries over and
        its output is zero. Returns ``outputs (B, T, H)`` and the final ``(h, c)``.
        """
        _check_sequence_input(self, u, mask)
        if state is None:
            state = self.initial_state(u.shape[0], device=u.device, dtype=u.dtype)
        h0, c0 = state
        tensors = (u, h0, c0, self.weight_hh, self.gain_hh, self.bias_hh, self.gain_c, self.bias_c)
        outputs, h, c = _LayerNormLSTMSequence.apply(
            u, h0, c0, mask, self.weight_hh, self.gain_hh, self.bias_hh,
            self.gain_c, self.bias_c, self.eps, _needs_backward(tensors),
        )  # fmt: skip
        return outputs, (h, c)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


# --- GRU ------------------------------------------------------------------------------------------


class _LayerNormGRUSequence(torch.autograd.Function):
    """The LN-GRU recurrence over a whole sequence with a hand-written backward pass.

    Time-major inside, and tanh taken as ``2 * sigmoid(2 x) - 1``, like ``_LayerNormLSTMSequence``.
    """

    @staticmethod
    def forward(
        ctx,
        u: Tensor,
        h0: Tensor,
        mask: Tensor | None,
        weight_hh: Tensor,
        gain_hh: Tensor,
        bias_hh: Tensor | None,
        eps: float,
        needs_backward: bool,
    ) -> tuple[Tensor, Tensor]:
        batch, steps, gates_width = u.shape
        hidden = gates_width // 3
        full, keep = _step_masks(mask, u)
        rz, n_block = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)
        # Doubling the n block's inputs turns sigmoid(2 x) into tanh(x) = 2 sigmoid(2 x) - 1.
        scale = u.new_ones(gates_width)
        scale[n_block] = 2.0
        gain_hh2 = gain_hh * scale
        bias_hh2 = None if bias_hh is None else bias_hh * scale
        u_n2 = 2.0 * u[:, :, n_block]

        hs = u.new_empty(steps + 1, batch, hidden)  # states h_t (carried over where masked)
        hs[0] = h0
        slots = steps if needs_backward else 1  # as in _LayerNormLSTMSequence
        rec = u.new_empty(slots, batch, gates_width)  # W_hh h_{t-1}
        acts = u.new_empty(slots, batch, gates_width)  # r, z, n
        rec_n2 = u.new_empty(slots, batch, hidden)  # 2 b_n, the doubled n block of LN(W_hh h)
        rec_stats = []
        weight_t = weight_hh.t()
        h_steps = hs.unbind(0)
        for t, (u_t, u_n2_t) in enumerate(zip(u.unbind(1), u_n2.unbind(1), strict=True)):
            slot = t % slots
            h, h_new = h_steps[t], h_steps[t + 1]
            p = torch.mm(h, weight_t, out=rec[slot])
            q, mean, rstd = torch.native_layer_norm(p, [gates_width], gain_hh2, bias_hh2, eps)
            a = acts[slot]
            torch.add(u_t[:, rz], q[:, rz], out=a[:, rz]).sigmoid_()
            r, z, n = a.chunk(3, dim=1)
            b_n2 = rec_n2[slot].copy_(q[:, n_block])
            torch.addcmul(u_n2_t, r, b_n2, out=n).sigmoid_().mul_(2.0).sub_(1.0)
            torch.addcmul(n, z, h - n, out=h_new)
            if not full[t]:
                h_new.copy_(torch.where(mask[:, t : t + 1], h_new, h))
            if slots > 1:
                rec_stats.append((mean, rstd))
        if slots == 1:  # nothing to save
            return _outputs(hs, keep), hs[steps].clone()
        ctx.full = full
        ctx.buffers = (hs, rec, acts, rec_n2, keep)
        ctx.stats = [torch.stack(s) for s in zip(*rec_stats, strict=True)]
        ctx.save_for_backward(weight_hh, gain_hh, bias_hh)
        return _outputs(hs, keep), hs[steps].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor, grad_h: Tensor):
        weight_hh, gain_hh, bias_hh = ctx.saved_tensors
        hs, rec, acts, rec_n2, keep = ctx.buffers
        mean_p, rstd_p = ctx.stats
        steps, batch, hidden = rec_n2.shape
        carry = None if keep is None else 1.0 - keep

        # With h_t = n + z * (h_{t-1} - n) and dh the gradient reaching h_t: d pre-z = dh * F_z,
        # d pre-n = dh * F_n, d pre-r = d pre-n * F_r; the factors for every step at once.
        r, z, n = acts.chunk(3, dim=2)
        zn_factors = torch.empty(steps, batch, 2, hidden, dtype=acts.dtype, device=acts.device)
        torch.sub(hs[:-1], n, out=zn_factors[:, :, 0]).mul_(torch.addcmul(z, z, z, value=-1.0))
        torch.sub(1.0, z, out=zn_factors[:, :, 1]).mul_(1.0 - n * n)
        r_factor = torch.addcmul(r, r, r, value=-1.0).mul_(rec_n2).mul_(0.5)

        grad_u = torch.empty_like(rec)  # d pre-activations [r, z, n] = d u
        grad_q = torch.empty_like(rec)  # d LN(W_hh h_{t-1})
        grad_rec = torch.empty_like(rec)  # d W_hh h_{t-1}
        # Per-step views, made once: indexing inside the loop costs more than the arithmetic.
        per_step = [
            x.unbind(0)
            for x in (grad_out.transpose(0, 1), grad_u, grad_q, grad_rec, zn_factors, r_factor)
            + (r, z, rec, mean_p, rstd_p)
        ]
        dh_next = grad_h.contiguous()
        for t in reversed(range(steps)):
            g_out, du, dq, dp, f_zn, f_r, r_t, z_t, p, mp, rp = (x[t] for x in per_step)
            dh = g_out + dh_next
            if not ctx.full[t]:
                dh = dh * keep[t]
            torch.mul(dh.unsqueeze(1), f_zn, out=du.view(batch, 3, hidden)[:, 1:])
            dn = du[:, 2 * hidden :]
            torch.mul(dn, f_r, out=du[:, :hidden])
            dq[:, : 2 * hidden] = du[:, : 2 * hidden]
            torch.mul(dn, r_t, out=dq[:, 2 * hidden :])
            dp.copy_(_layer_norm_input_grad(dq, p, mp, rp, gain_hh))
            direct = dh * z_t if ctx.full[t] else torch.addcmul(dh_next * carry[t], dh, z_t)
            dh_next = torch.addmm(direct, dp, weight_hh)

        gates_width = 3 * hidden
        grad_weight_hh = grad_rec.view(-1, gates_width).t() @ hs[:-1].reshape(-1, hidden)
        grad_gain_hh, grad_bias_hh = _layer_norm_param_grads(
            grad_q, rec, mean_p, rstd_p, gain_hh, bias_hh
        )
        return (
            grad_u.transpose(0, 1), dh_next, None, grad_weight_hh,
            grad_gain_hh, grad_bias_hh, None, None,
        )  # fmt: skip


class LayerNormGRUCell(Cell):
    """GRU cell with layer normalisation (Ba et al. 2016), gate order r, z, n as in torch.

    With ``a = LN(W_ih x_t; gain_ih, bias_ih)`` computed by ``project`` for all steps and
    ``b = LN(W_hh h_{t-1}; gain_hh, bias_hh)``, both ``(B, 3H)`` split into r, z, n blocks::

        r = sigmoid(a_r + b_r)
        z = sigmoid(a_z + b_z)
        n = tanh(a_n + r * b_n)            (reset applied after the recurrent product, as cuDNN)
        h_t = (1 - z) * n + z * h_{t-1}

    Parameters: ``weight_ih (3H, I)``, ``weight_hh (3H, H)``, gains ``gain_ih, gain_hh (3H,)``
    and, when ``bias``, shifts ``bias_ih, bias_hh (3H,)``. Initialisation: weights and shifts per
    ``init`` (DESIGN.md: zero shifts), gains one. State: ``h (B, H)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.gate_size = 3 * hidden_size
        self.bias = bias
        self.init = init
        self.eps = eps
        g = self.gate_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        self.gain_ih = nn.Parameter(torch.empty(g))
        self.gain_hh = nn.Parameter(torch.empty(g))
        for name in ("bias_ih", "bias_hh"):
            self.register_parameter(name, nn.Parameter(torch.empty(g)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        biases = [self.bias_ih, self.bias_hh] if self.bias else []
        init_recurrent_weights(
            self.weight_ih, self.weight_hh, biases, num_gates=3, scheme=self.init,
            hidden_size=self.hidden_size,
        )  # fmt: skip
        with torch.no_grad():
            self.gain_ih.fill_(1.0)
            self.gain_hh.fill_(1.0)

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, I) -> (B, T, 3H)``: the normalised input product, ``LN(W_ih x)``."""
        return F.layer_norm(
            x @ self.weight_ih.t(), (self.gate_size,), self.gain_ih, self.bias_ih, self.eps
        )

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """``u_t (B, 3H)``, ``h (B, H)`` -> ``(h_t, h_t)``."""
        recurrent = F.layer_norm(
            state @ self.weight_hh.t(), (self.gate_size,), self.gain_hh, self.bias_hh, self.eps
        )
        a_r, a_z, a_n = u_t.chunk(3, dim=1)
        b_r, b_z, b_n = recurrent.chunk(3, dim=1)
        r = torch.sigmoid(a_r + b_r)
        z = torch.sigmoid(a_z + b_z)
        n = torch.tanh(a_n + r * b_n)
        h = n + z * (state - n)
        return h, h

    def fused_sequence(
        self, u: Tensor, state: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The whole recurrence in one autograd Function: the same result as ``step`` in a loop.

        ``u (B, T, 3H)`` from ``project``; ``state (B, H)`` or None for zeros; ``mask (B, T)`` bool
        or None: where ``mask[b, t]`` is False row b's state carries over and its output is zero.
        Returns ``outputs (B, T, H)`` and the final state ``(B, H)``.
        """
        _check_sequence_input(self, u, mask)
        if state is None:
            state = self.initial_state(u.shape[0], device=u.device, dtype=u.dtype)
        tensors = (u, state, self.weight_hh, self.gain_hh, self.bias_hh)
        outputs, h = _LayerNormGRUSequence.apply(
            u, state, mask, self.weight_hh, self.gain_hh, self.bias_hh, self.eps,
            _needs_backward(tensors),
        )  # fmt: skip
        return outputs, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"
