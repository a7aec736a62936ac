"""The recurrent matrix product of a hand-written sequence kernel, laid out once per sequence.

A recurrence over T steps multiplies a small batch of states ``h (B, H)`` by the same recurrent
weight ``W (G, H)`` T times forward (``h W^T``) and T times backward (``dp W``). At the batch sizes
of training (B of 16 to 128) these products are too small for a matrix library to reach its
speed, and they are most of a recurrent layer's time, so their layout matters:

- on a CPU in float32, with torch built on MKL, the weight is packed once per sequence into MKL's
  own layout for sgemm (``torch.ops.mkl``, what torch's own inference graphs use); measured on
  2 cores at B=32, H=256, G=1024: 72 us a product against 88 us for ``torch.mm`` on a contiguous
  transposed copy and 122 us on the transposed view;
- elsewhere (CUDA, float64, a build without MKL), ``torch.mm`` on contiguous copies.

The packed weight is a snapshot: it is made when the sequence starts, which is right as long as
the weight does not change before the backward pass, as in any training step.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _mkl_packing_available() -> bool:
    mkl = getattr(torch.ops, "mkl", None)
    return (
        torch.backends.mkl.is_available()
        and mkl is not None
        and hasattr(mkl, "_mkl_linear")
        and hasattr(mkl, "_mkl_reorder_linear_weight")
    )


_MKL_PACKING = _mkl_packing_available()


class RecurrentProduct:
    """``h W^T`` and ``dp W`` for one sequence's steps, with ``W (G, H)`` prepared once.

    Args:
        weight: the recurrent weight ``(G, H)``.
        batch: the rows ``B`` of every product.
        backward: also prepare the weight for ``backward`` (a training step).
    """

    def __init__(self, weight: Tensor, batch: int, *, backward: bool = True) -> None:
        self.batch = batch
        self.weight = weight  # (G, H): dp W
        self.packed = self.packed_t = None
        packing = _MKL_PACKING and weight.device.type == "cpu" and weight.dtype == torch.float32
        # (H, G): h W^T unpacked, and the packed backward's reference copy; inference with a
        # packed weight needs neither
        self.weight_t = weight.detach().t().contiguous() if backward or not packing else None
        if packing:
            reorder = torch.ops.mkl._mkl_reorder_linear_weight
            self.packed = reorder(weight.detach(), batch)
            if backward:
                self.packed_t = reorder(self.weight_t, batch)

    def __call__(self, h: Tensor, out: Tensor | None = None) -> Tensor:
        """``h (B, H) -> h W^T (B, G)``: a new tensor, or written into ``out`` (returned).

        With a packed weight a new tensor is the cheaper of the two: MKL's packed product has no
        ``out=``, so filling ``out`` costs a copy.
        """
        if self.packed is not None:
            product = torch.ops.mkl._mkl_linear(h, self.packed, self.weight, None, self.batch)
            return product if out is None else out.copy_(product)
        return torch.mm(h, self.weight_t, out=out) if out is not None else h @ self.weight_t

    def backward(self, grad: Tensor, add: Tensor | None = None) -> Tensor:
        """``grad (B, G) -> grad W (B, H)``, plus ``add (B, H)`` when given (a new tensor)."""
        if self.packed_t is not None:
            product = torch.ops.mkl._mkl_linear(
                grad, self.packed_t, self.weight_t, None, self.batch
            )
            return product if add is None else product.add_(add)
        if add is None:
            return torch.mm(grad, self.weight)
        return torch.addmm(add, grad, self.weight)
