"""Cross-entropy of a linear output layer, computed in chunks of rows.

A model with a large output vocabulary spends much of a training step outside its recurrence: the
logits ``(N, V)`` of every target token, their log-softmax, the gradient of the loss with respect
to them, and the casts between bf16 and float32 under autocast are each a tensor of ``N * V``
numbers (3,000 tokens of a batch times a 6,000-word vocabulary is 19 million), written to memory
and read back several times. ``linear_cross_entropy`` never holds more than one chunk of rows of
logits: for each chunk it computes the logits, the loss and at once the gradient of the loss with
respect to the logits, ``softmax(z) - smoothed one-hot``, which it turns into the gradients of the
features, weight and bias before moving on. Backward only scales those by the incoming gradient.

The value and the gradients are those of::

    F.cross_entropy(F.linear(features, weight, bias), targets,
                    ignore_index=ignore_index, label_smoothing=label_smoothing)

(mean over the rows whose target is not ``ignore_index``), exactly in float64; under autocast the
products run in the autocast dtype and the softmax in float32, as autocast would run them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

#: logits of at most this many numbers are held at once (16 MB in float32)
CHUNK_ELEMENTS = 1 << 22


def linear_cross_entropy(
    features: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    targets: Tensor,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    chunk_rows: int | None = None,
) -> Tensor:
    """Mean cross-entropy of ``features @ weight.T + bias`` against ``targets``, chunk by chunk.

    Args:
        features: ``(N, H)``, the output layer's input.
        weight: ``(V, H)``; bias: ``(V,)`` or None.
        targets: ``(N,)`` class ids; rows whose target is ``ignore_index`` count for nothing.
        label_smoothing: ``eps`` in [0, 1): the target distribution is
            ``(1 - eps) * one_hot + eps / V``, as in ``F.cross_entropy``.
        chunk_rows: rows per chunk (default: as many as keep a chunk's logits near 4M numbers).

    Returns the scalar loss (float32, or float64 for float64 inputs); NaN when every row is
    ignored, as ``F.cross_entropy`` returns.
    """
    if features.dim() != 2 or targets.shape != features.shape[:1]:
        raise ValueError(
            f"features must be (N, H) and targets (N,), got {tuple(features.shape)} and "
            f"{tuple(targets.shape)}"
        )
    if weight.dim() != 2 or weight.shape[1] != features.shape[1]:
        raise ValueError(
            f"weight must be (V, {features.shape[1]}), got shape {tuple(weight.shape)}"
        )
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    device_type = features.device.type
    compute_dtype = (
        torch.get_autocast_dtype(device_type)
        if torch.is_autocast_enabled(device_type)
        else features.dtype
    )
    if chunk_rows is None:
        chunk_rows = max(1, CHUNK_ELEMENTS // weight.shape[0])
    return _LinearCrossEntropy.apply(
        features, weight, bias, targets, ignore_index, label_smoothing, chunk_rows, compute_dtype
    )


class _LinearCrossEntropy(torch.autograd.Function):
    """Forward computes the loss and, when any input needs it, every gradient; backward scales."""

    @staticmethod
    def forward(
        ctx: Any,
        features: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        targets: Tensor,
        ignore_index: int,
        label_smoothing: float,
        chunk_rows: int,
        compute_dtype: torch.dtype,
    ) -> Tensor:
        need_features, need_weight, need_bias = ctx.needs_input_grad[:3]
        need_any = need_features or need_weight or need_bias
        # float32 at least: the softmax and the sums are kept there, as autocast keeps them
        accumulate = torch.promote_types(features.dtype, torch.float32)
        with torch.autocast(features.device.type, enabled=False):
            w = weight.to(compute_dtype)
            b = bias.to(compute_dtype) if bias is not None else None
            vocab = weight.shape[0]
            valid = targets != ignore_index
            safe_targets = torch.where(valid, targets, torch.zeros_like(targets))
            total = torch.zeros((), dtype=accumulate, device=features.device)
            grad_features = torch.empty_like(features) if need_features else None
            grad_weight = torch.zeros_like(weight, dtype=accumulate) if need_weight else None
            grad_bias = (
                torch.zeros_like(bias, dtype=accumulate) if need_bias and bias is not None else None
            )
            for start in range(0, features.shape[0], chunk_rows):
                rows = slice(start, start + chunk_rows)
                x = features[rows].to(compute_dtype)
                logits = F.linear(x, w, b).to(accumulate)  # (n, V)
                target = safe_targets[rows].unsqueeze(1)  # (n, 1)
                keep = valid[rows].to(accumulate)  # (n,)
                log_probs = torch.log_softmax(logits, dim=-1)
                nll = -log_probs.gather(1, target).squeeze(1)
                smooth = -log_probs.mean(dim=-1)  # the smoothing term: -mean_j log p_j
                row_loss = (1.0 - label_smoothing) * nll + label_smoothing * smooth
                total += (row_loss * keep).sum()
                if not need_any:
                    continue
                # d loss / d logits (before the mean) = softmax - smoothed target, 0 where ignored
                grad_logits = log_probs.exp_()
                grad_logits.sub_(label_smoothing / vocab)
                grad_logits.scatter_add_(
                    1, target, torch.full_like(nll, label_smoothing - 1.0).unsqueeze(1)
                )
                grad_logits.mul_(keep.unsqueeze(1))
                grad_in_compute = grad_logits.to(compute_dtype)
                if grad_features is not None:
                    grad_features[rows] = (grad_in_compute @ w).to(features.dtype)
                if grad_weight is not None:
                    grad_weight += (grad_in_compute.T @ x).to(accumulate)
                if grad_bias is not None:
                    grad_bias += grad_logits.sum(dim=0)
            count = valid.sum().to(accumulate)
        ctx.save_for_backward(count)
        ctx.grads = (grad_features, grad_weight, grad_bias)
        ctx.dtypes = (weight.dtype, bias.dtype if bias is not None else None)
        return total / count

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        (count,) = ctx.saved_tensors
        scale = grad_output / count
        grad_features, grad_weight, grad_bias = ctx.grads
        weight_dtype, bias_dtype = ctx.dtypes
        out_features = None if grad_features is None else grad_features * scale.to(grad_features)
        out_weight = None if grad_weight is None else (grad_weight * scale).to(weight_dtype)
        out_bias = None if grad_bias is None else (grad_bias * scale).to(bias_dtype)
        return out_features, out_weight, out_bias, None, None, None, None, None
