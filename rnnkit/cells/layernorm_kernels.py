"""The hand-written whole-sequence kernels of the layer-normalised cells (``cells.layernorm``).

Each is one ``torch.autograd.Function`` that runs a cell's recurrence over all T steps, with its
backward pass written out by hand: the forward loop saves what the backward pass needs, the weight
gradients are left to one large matrix product after the reverse loop, and the recurrent products
go through ``RecurrentProduct`` (the weight laid out once per sequence). Two versions of each:

- ``LayerNormLSTMSequence`` / ``LayerNormGRUSequence``: pure torch, any dtype and device. They
  precompute every factor of the backward pass that does not depend on the incoming gradient for
  all steps at once, and take tanh as ``2 sigmoid(2 x) - 1`` (on CPU torch's tanh costs several
  times its sigmoid).
- ``NativeLayerNormLSTMSequence`` / ``NativeLayerNormGRUSequence``: float32 on CPU, each step's
  elementwise work (layer norms, gates, cell update, and their gradients) done by one call of the
  C kernel ``rnnkit/native/layernorm.c``, where torch would run a dozen small kernels.

Both compute the same function as running the cell's ``step`` in a loop. Inside, tensors are
time-major, ``(T, B, .)``; a ``mask (B, T)`` marks the real steps: where it is False a row's state
carries over and its output is zero.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.cells.products import RecurrentProduct
from rnnkit.native import layernorm as native_layernorm


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


def needs_backward(tensors: tuple[Tensor | None, ...]) -> bool:
    """Whether autograd will call for a backward pass through a function of ``tensors``."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _outputs(hs: Tensor, keep: Tensor | None) -> Tensor:
    """Outputs ``(B, T, H)`` from the states ``hs (T + 1, B, H)``, zero where masked."""
    outputs = hs[1:] if keep is None else hs[1:] * keep
    return outputs.transpose(0, 1).contiguous()


def check_sequence_input(cell: torch.nn.Module, u: Tensor, mask: Tensor | None) -> None:
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


class LayerNormLSTMSequence(torch.autograd.Function):
    """The LN-LSTM recurrence over a whole sequence with a hand-written backward pass.

    Inside, tensors are time-major: ``(T, B, .)``. Buffers that hold one entry per state carry
    ``T + 1`` entries, index 0 being the initial state. Both tanh's are taken as
    ``tanh(x) = 2 * sigmoid(2 x) - 1``, the factor 2 folded into the normalisations' gains and
    shifts: on CPU torch's tanh costs several times its sigmoid. The forward loop keeps the
    sigmoids and leaves the ``2 s - 1`` to the backward pass, which takes it for all steps at once.
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
        product = RecurrentProduct(weight_hh, batch, backward=needs_backward)

        hs = u.new_empty(steps + 1, batch, hidden)  # states h_t (carried over where masked)
        cs = u.new_empty(steps + 1, batch, hidden)  # states c_t
        hs[0], cs[0] = h0, c0
        # What the backward pass needs, one slot per step; without a backward pass to serve,
        # a single slot, reused, which stays in cache.
        slots = steps if needs_backward else 1
        rec = u.new_empty(slots, batch, gates_width)  # recurrent products W_hh h_{t-1}
        acts = u.new_empty(slots, batch, gates_width)  # sigmoid(i), sigmoid(f), sigmoid(2g), ..(o)
        sig_cn = u.new_empty(slots, batch, hidden)  # sigmoid(2 LN(c_t))
        rec_stats, cell_stats = [], []
        h_steps, c_steps = hs.unbind(0), cs.unbind(0)
        for t, u_t in enumerate(u.unbind(1)):
            slot = t % slots
            h, c, h_new, c_new = h_steps[t], c_steps[t], h_steps[t + 1], c_steps[t + 1]
            p = product(h, out=rec[slot])
            pre, mean, rstd = torch.native_layer_norm(p, [gates_width], gain_hh2, bias_hh2, eps)
            i, f, sg, o = torch.sigmoid(pre.addcmul_(u_t, scale), out=acts[slot]).chunk(4, dim=1)
            # c_t = f c + i tanh(g) = f c - i + 2 i sigmoid(2 g)
            torch.mul(f, c, out=c_new).sub_(i).addcmul_(i, sg, value=2.0)
            cn2, mean_c, rstd_c = torch.native_layer_norm(c_new, [hidden], gain_c2, bias_c2, eps)
            sc = torch.sigmoid(cn2, out=sig_cn[slot])
            torch.neg(o, out=h_new).addcmul_(o, sc, value=2.0)  # h_t = o (2 sc - 1)
            if not full[t]:
                real = mask[:, t : t + 1]
                h_new.copy_(torch.where(real, h_new, h))
                c_new.copy_(torch.where(real, c_new, c))
            if slots > 1:
                rec_stats.append((mean, rstd))
                cell_stats.append((mean_c, rstd_c))
        if slots == 1:  # nothing to save
            return _outputs(hs, keep), hs[steps].clone(), cs[steps].clone()
        ctx.full, ctx.product, ctx.converted = full, product, False
        ctx.buffers = (hs, cs, rec, acts, sig_cn, keep)
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
        full, product = ctx.full, ctx.product
        carry = None if keep is None else 1.0 - keep

        # The forward pass kept sigmoid(2 x) for both tanh's: tanh(x) = 2 sigmoid(2 x) - 1
        # (once: a graph kept for a second backward pass holds the converted buffers).
        i, f, g, o = acts.chunk(4, dim=2)
        if not ctx.converted:
            g.mul_(2.0).sub_(1.0)
            tanh_cn.mul_(2.0).sub_(1.0)
            ctx.converted = True
        # Every factor that does not depend on the incoming gradient, for all steps at once
        # (sigmoid' = s (1 - s), tanh' = 1 - tanh^2): with dh, dc the gradients reaching h_t, c_t,
        # d gates = [dc * F_i, dc * F_f, dc * F_g, dh * F_o] and d LN(c_t) = dh * F_cn.
        factors = torch.addcmul(acts, acts, acts, value=-1.0)  # s (1 - s); g's block replaced
        f_i, f_f, f_g, f_o = factors.chunk(4, dim=2)
        f_i.mul_(g)
        f_f.mul_(cs[:-1])
        torch.addcmul(i, i, torch.mul(g, g, out=f_g), value=-1.0, out=f_g)
        f_o.mul_(tanh_cn)
        f_cn = torch.mul(tanh_cn, tanh_cn)
        torch.addcmul(o, o, f_cn, value=-1.0, out=f_cn)

        # The gradient reaching h_t from the outputs: zero at padding, whose outputs are zero.
        grad_outputs = grad_out.transpose(0, 1)
        if keep is not None:
            grad_outputs = grad_outputs * keep
        grad_u = torch.empty_like(rec)  # d gates = d u = d LN(W_hh h_{t-1})
        grad_rec = torch.empty_like(rec)  # d (W_hh h_{t-1})
        grad_cn = torch.empty_like(tanh_cn)  # d LN(c_t)
        # Per-step views, made once: indexing inside the loop costs more than the arithmetic.
        per_step = [
            x.unbind(0)
            for x in (grad_u, grad_rec, grad_cn, f_cn, f_o, f)
            + (cs[1:], rec, mean_p, rstd_p, mean_c, rstd_c)
        ]
        g_outs = grad_outputs.unbind(0)
        gate_factors = factors.view(steps, batch, 4, hidden)[:, :, :3].unbind(0)
        # dh: the whole gradient reaching h_t (outputs and recurrence), dc: reaching c_t
        dh, dc_next = g_outs[-1] + grad_h, grad_c.contiguous()
        for t in reversed(range(steps)):
            du, dp, dcn, fcn, fo, ft, c_t, p, mp, rp, mc, rc = (x[t] for x in per_step)
            if full[t]:
                dh_t, dc_in = dh, dc_next
            else:
                dh_t, dc_in = dh * keep[t], dc_next * keep[t]
            torch.mul(dh_t, fcn, out=dcn)
            dc = _layer_norm_input_grad(dcn, c_t, mc, rc, gain_c).add_(dc_in)
            du_blocks = du.view(batch, 4, hidden)
            torch.mul(dc.unsqueeze(1), gate_factors[t], out=du_blocks[:, :3])
            torch.mul(dh_t, fo, out=du_blocks[:, 3])
            dp.copy_(_layer_norm_input_grad(du, p, mp, rp, gain_hh))
            # the gradient reaching h_{t-1}: its own output's, and through W_hh and the carry
            direct = g_outs[t - 1] if t > 0 else None
            if not full[t]:
                carried = dh * carry[t]
                direct = carried if direct is None else carried.add_(direct)
            dh = product.backward(dp, add=direct)
            dc_next = dc.mul_(ft) if full[t] else dc.mul_(ft).add_(dc_next * carry[t])

        gates_width = 4 * hidden
        grad_weight_hh = grad_rec.view(-1, gates_width).t() @ hs[:-1].reshape(-1, hidden)
        grad_gain_hh, grad_bias_hh = _layer_norm_param_grads(
            grad_u, rec, mean_p, rstd_p, gain_hh, bias_hh
        )
        grad_gain_c, grad_bias_c = _layer_norm_param_grads(
            grad_cn, cs[1:], mean_c, rstd_c, gain_c, bias_c
        )
        return (
            grad_u.transpose(0, 1), dh, dc_next, None, grad_weight_hh,
            grad_gain_hh, grad_bias_hh, grad_gain_c, grad_bias_c, None, None,
        )  # fmt: skip


class _Pointers:
    """Addresses of one buffer's per-step slices: ``buffer (N, ...)`` contiguous, ``self[t]`` is
    the address of ``buffer[t]`` (computed, not asked of torch at every step)."""

    def __init__(self, buffer: Tensor) -> None:
        self.base = buffer.data_ptr()
        self.stride = buffer.stride(0) * buffer.element_size()

    def __getitem__(self, index: int) -> int:
        return self.base + index * self.stride


def native_applies(u: Tensor, weight_hh: Tensor) -> bool:
    """Whether the C kernels serve this call: float32 on CPU, the kernels built."""
    if u.device.type != "cpu" or u.dtype != torch.float32 or weight_hh.dtype != torch.float32:
        return False
    return native_layernorm.kernel() is not None


class NativeLayerNormLSTMSequence(torch.autograd.Function):
    """``LayerNormLSTMSequence`` with each step's elementwise work done by the C kernel
    ``rnnkit/native/layernorm.c`` (float32 on CPU): per step one matrix product and one call,
    forward and backward, instead of a dozen torch kernels. Same arguments, same results.

    The kernel also writes the outputs and ``grad_u`` straight into batch-major ``(B, T, .)``
    tensors and sums the layer norms' gain and shift gradients as it goes, so neither pass makes
    a transposed copy, and each step's recurrent product is kept as the tensor the matrix
    library returned instead of being copied into a buffer for all steps.
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
        kernel = native_layernorm.kernel()
        batch, steps, gates_width = u.shape
        hidden = gates_width // 4
        u = u.contiguous()
        full, _ = _step_masks(mask, u)
        params = [None if t is None else t.detach().contiguous()
                  for t in (gain_hh, bias_hh, gain_c, bias_c)]  # fmt: skip
        gain_hh_p, bias_hh_p, gain_c_p, bias_c_p = (
            None if t is None else t.data_ptr() for t in params
        )
        product = RecurrentProduct(weight_hh, batch, backward=needs_backward)

        hs = u.new_empty(steps + 1, batch, hidden)
        cs = u.new_empty(steps + 1, batch, hidden)
        hs[0], cs[0] = h0, c0
        outputs = u.new_empty(batch, steps, hidden)
        slots = steps if needs_backward else 1
        rec: list[Tensor] = []  # W_hh h_{t-1}, (B, 4H) each
        acts = u.new_empty(slots, batch, gates_width)  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        tanh_cn = u.new_empty(slots, batch, hidden)  # tanh(LN(c_t))
        stats = u.new_empty(4, slots, batch)  # mean and rstd of W_hh h_{t-1}, then of c_t
        real = None if mask is None else mask.t().contiguous().to(torch.uint8)  # (T, B)
        h_at, c_at, acts_at, tanh_at = map(_Pointers, (hs, cs, acts, tanh_cn))
        mean_p, rstd_p, mean_c, rstd_c = map(_Pointers, stats.unbind(0))
        real_at = None if real is None else _Pointers(real)
        u_at, out_at = _Pointers(u[0]), _Pointers(outputs[0])  # u[0, t], outputs[0, t]
        h_steps = hs.unbind(0)
        for t in range(steps):
            slot = t % slots
            rec_t = product(h_steps[t])
            if needs_backward:
                rec.append(rec_t)
            kernel.ln_lstm_forward_step(
                batch, hidden, rec_t.data_ptr(), u_at[t], steps * gates_width,
                gain_hh_p, bias_hh_p, gain_c_p, bias_c_p, h_at[t], c_at[t],
                None if full[t] else real_at[t], eps,
                acts_at[slot], mean_p[slot], rstd_p[slot], c_at[t + 1], tanh_at[slot],
                mean_c[slot], rstd_c[slot], h_at[t + 1], out_at[t], steps * hidden,
            )  # fmt: skip
        if needs_backward:
            ctx.full, ctx.product = full, product
            ctx.buffers = (hs, cs, rec, acts, tanh_cn, stats, real, mask)
            ctx.save_for_backward(*params)  # the weight travels in ``product``
        return outputs, hs[steps].clone(), cs[steps].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor, grad_h: Tensor, grad_c: Tensor):
        kernel = native_layernorm.kernel()
        gain_hh, bias_hh, gain_c, bias_c = ctx.saved_tensors
        hs, cs, rec, acts, tanh_cn, stats, real, mask = ctx.buffers
        full, product = ctx.full, ctx.product
        steps, batch, hidden = tanh_cn.shape
        gates_width = 4 * hidden

        # The gradient reaching h_t from the outputs: zero at padding, whose outputs are zero.
        if mask is not None:
            grad_out = grad_out * mask.unsqueeze(-1)
        g_outs = grad_out.unbind(1)
        grad_u = rec[0].new_empty(batch, steps, gates_width)  # d gates = d u
        grad_rec = torch.empty_like(acts)  # d (W_hh h_{t-1})
        sums = torch.zeros(2 * gates_width + 2 * hidden, dtype=acts.dtype)
        d_gain_hh, d_bias_hh, d_gain_c, d_bias_c = sums.split(
            [gates_width, gates_width, hidden, hidden]
        )
        dc_buffers = [grad_c.contiguous().clone(), torch.empty_like(tanh_cn[0])]
        dh_carry = torch.empty_like(tanh_cn[0])
        acts_at, c_at, tanh_at, grad_rec_at = map(_Pointers, (acts, cs, tanh_cn, grad_rec))
        grad_u_at = _Pointers(grad_u[0])  # grad_u[0, t]
        mean_p, rstd_p, mean_c, rstd_c = map(_Pointers, stats.unbind(0))
        real_at = None if real is None else _Pointers(real)
        sum_pointers = (
            d_gain_hh.data_ptr(), None if bias_hh is None else d_bias_hh.data_ptr(),
            d_gain_c.data_ptr(), None if bias_c is None else d_bias_c.data_ptr(),
        )  # fmt: skip
        gain_hh_p, gain_c_p = gain_hh.data_ptr(), gain_c.data_ptr()
        grad_rec_steps = grad_rec.unbind(0)
        dh = (g_outs[-1] + grad_h).contiguous()  # the whole gradient reaching h_t
        for t in reversed(range(steps)):
            dc, dc_prev = dc_buffers
            kernel.ln_lstm_backward_step(
                batch, hidden, dh.data_ptr(), dc.data_ptr(), acts_at[t], rec[t].data_ptr(),
                mean_p[t], rstd_p[t], gain_hh_p, c_at[t], c_at[t + 1], tanh_at[t], mean_c[t],
                rstd_c[t], gain_c_p, None if full[t] else real_at[t], grad_u_at[t],
                steps * gates_width, grad_rec_at[t], dc_prev.data_ptr(), dh_carry.data_ptr(),
                *sum_pointers,
            )  # fmt: skip
            # the gradient reaching h_{t-1}: its own output's, through W_hh, and carried over
            direct = g_outs[t - 1] if t > 0 else None
            if not full[t]:
                direct = dh_carry.clone() if direct is None else dh_carry + direct
            dh = product.backward(grad_rec_steps[t], add=direct).contiguous()
            dc_buffers.reverse()

        grad_weight_hh = grad_rec.view(-1, gates_width).t() @ hs[:-1].reshape(-1, hidden)
        return (
            grad_u, dh, dc_buffers[0], None, grad_weight_hh, d_gain_hh,
            None if bias_hh is None else d_bias_hh, d_gain_c,
            None if bias_c is None else d_bias_c, None, None,
        )  # fmt: skip


class LayerNormGRUSequence(torch.autograd.Function):
    """The LN-GRU recurrence over a whole sequence with a hand-written backward pass.

    Time-major inside, and tanh taken as ``2 * sigmoid(2 x) - 1``, like ``LayerNormLSTMSequence``.
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
        slots = steps if needs_backward else 1  # as in LayerNormLSTMSequence
        rec = u.new_empty(slots, batch, gates_width)  # W_hh h_{t-1}
        acts = u.new_empty(slots, batch, gates_width)  # r, z, n
        rec_n2 = u.new_empty(slots, batch, hidden)  # 2 b_n, the doubled n block of LN(W_hh h)
        rec_stats = []
        product = RecurrentProduct(weight_hh, batch, backward=needs_backward)
        h_steps = hs.unbind(0)
        for t, (u_t, u_n2_t) in enumerate(zip(u.unbind(1), u_n2.unbind(1), strict=True)):
            slot = t % slots
            h, h_new = h_steps[t], h_steps[t + 1]
            p = product(h, out=rec[slot])
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
        ctx.full, ctx.product = full, product
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
            dh_next = ctx.product.backward(dp, add=direct)

        gates_width = 3 * hidden
        grad_weight_hh = grad_rec.view(-1, gates_width).t() @ hs[:-1].reshape(-1, hidden)
        grad_gain_hh, grad_bias_hh = _layer_norm_param_grads(
            grad_q, rec, mean_p, rstd_p, gain_hh, bias_hh
        )
        return (
            grad_u.transpose(0, 1), dh_next, None, grad_weight_hh,
            grad_gain_hh, grad_bias_hh, None, None,
        )  # fmt: skip


class NativeLayerNormGRUSequence(torch.autograd.Function):
    """``LayerNormGRUSequence`` with each step's elementwise work done by the C kernel
    ``rnnkit/native/layernorm.c`` (float32 on CPU). Same arguments, same results; laid out as
    ``NativeLayerNormLSTMSequence`` (batch-major outputs and ``grad_u``, gain and shift gradients
    summed by the kernel, the per-step products kept as returned)."""

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
        kernel = native_layernorm.kernel()
        batch, steps, gates_width = u.shape
        hidden = gates_width // 3
        u = u.contiguous()
        full, _ = _step_masks(mask, u)
        gain_hh = gain_hh.detach().contiguous()
        bias_hh = None if bias_hh is None else bias_hh.detach().contiguous()
        product = RecurrentProduct(weight_hh, batch, backward=needs_backward)

        hs = u.new_empty(steps + 1, batch, hidden)
        hs[0] = h0
        outputs = u.new_empty(batch, steps, hidden)
        slots = steps if needs_backward else 1
        rec: list[Tensor] = []  # W_hh h_{t-1}, (B, 3H) each
        acts = u.new_empty(slots, batch, gates_width)  # r, z, n
        q_n = u.new_empty(slots, batch, hidden)  # the n block of LN(W_hh h_{t-1})
        stats = u.new_empty(2, slots, batch)  # mean and rstd of W_hh h_{t-1}
        real = None if mask is None else mask.t().contiguous().to(torch.uint8)  # (T, B)
        h_at, acts_at, q_n_at = map(_Pointers, (hs, acts, q_n))
        mean_p, rstd_p = map(_Pointers, stats.unbind(0))
        real_at = None if real is None else _Pointers(real)
        u_at, out_at = _Pointers(u[0]), _Pointers(outputs[0])  # u[0, t], outputs[0, t]
        bias_p = None if bias_hh is None else bias_hh.data_ptr()
        h_steps = hs.unbind(0)
        for t in range(steps):
            slot = t % slots
            rec_t = product(h_steps[t])
            if needs_backward:
                rec.append(rec_t)
            kernel.ln_gru_forward_step(
                batch, hidden, rec_t.data_ptr(), u_at[t], steps * gates_width,
                gain_hh.data_ptr(), bias_p, h_at[t], None if full[t] else real_at[t], eps,
                acts_at[slot], q_n_at[slot], mean_p[slot], rstd_p[slot], h_at[t + 1],
                out_at[t], steps * hidden,
            )  # fmt: skip
        if needs_backward:
            ctx.full, ctx.product = full, product
            ctx.buffers = (hs, rec, acts, q_n, stats, real, mask)
            ctx.save_for_backward(gain_hh, bias_hh)
        return outputs, hs[steps].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor, grad_h: Tensor):
        kernel = native_layernorm.kernel()
        gain_hh, bias_hh = ctx.saved_tensors
        hs, rec, acts, q_n, stats, real, mask = ctx.buffers
        full, product = ctx.full, ctx.product
        steps, batch, hidden = q_n.shape
        gates_width = 3 * hidden

        # The gradient reaching h_t from the outputs, (B, T, H): zero at padding.
        grad_out = (grad_out if mask is None else grad_out * mask.unsqueeze(-1)).contiguous()
        grad_u = acts.new_empty(batch, steps, gates_width)  # d pre-activations [r, z, n] = d u
        grad_rec = torch.empty_like(acts)  # d W_hh h_{t-1}
        sums = torch.zeros(2, gates_width, dtype=acts.dtype)
        d_gain_hh, d_bias_hh = sums.unbind(0)
        direct = torch.empty_like(q_n[0])
        acts_at, q_n_at, h_at, grad_rec_at = map(_Pointers, (acts, q_n, hs, grad_rec))
        g_at, grad_u_at = _Pointers(grad_out[0]), _Pointers(grad_u[0])  # [0, t]
        mean_p, rstd_p = map(_Pointers, stats.unbind(0))
        real_at = None if real is None else _Pointers(real)
        bias_sum_p = None if bias_hh is None else d_bias_hh.data_ptr()
        grad_rec_steps = grad_rec.unbind(0)
        dh = (grad_out[:, -1] + grad_h).contiguous()  # the whole gradient reaching h_t
        for t in reversed(range(steps)):
            kernel.ln_gru_backward_step(
                batch, hidden, dh.data_ptr(), acts_at[t], q_n_at[t], rec[t].data_ptr(),
                mean_p[t], rstd_p[t], gain_hh.data_ptr(), h_at[t],
                g_at[t - 1] if t > 0 else None, steps * hidden,
                None if full[t] else real_at[t], grad_u_at[t], steps * gates_width,
                grad_rec_at[t], direct.data_ptr(), d_gain_hh.data_ptr(), bias_sum_p,
            )  # fmt: skip
            dh = product.backward(grad_rec_steps[t], add=direct).contiguous()

        grad_weight_hh = grad_rec.view(-1, gates_width).t() @ hs[:-1].reshape(-1, hidden)
        return (
            grad_u, dh, None, grad_weight_hh, d_gain_hh,
            None if bias_hh is None else d_bias_hh, None, None,
        )  # fmt: skip
