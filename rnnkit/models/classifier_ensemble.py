"""Several sequence classifiers of one shape whose class probabilities are averaged.

On small data sets the members, each trained as a classifier of its own (different random
weights, dropout, batch order and held-out examples: ``rnnkit.tasks.classify_members``), err on
different examples; the mean of their probabilities is more accurate than a typical member (an
ensemble of seeds, as in Lakshminarayanan et al. 2017). ``of`` gathers trained members.

``forward(x, lengths) -> (B, K)`` returns ``log(mean_m softmax(logits_m))``, so a softmax of the
output gives the averaged probabilities and an argmax the ensemble's choice, wherever a single
``SequenceClassifier``'s logits are read.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models.classifier import SequenceClassifier


class ClassifierEnsemble(nn.Module):
    """``members`` ``SequenceClassifier``s built from one ``member_config`` (each initialised
    afresh).

    Args:
        members: ``M >= 2``, the number of classifiers.
        member_config: a ``SequenceClassifier.config()``.
    """

    def __init__(self, members: int, member_config: dict[str, Any]) -> None:
        super().__init__()
        if members < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {members}")
        self.members = nn.ModuleList(
            SequenceClassifier.from_config(member_config) for _ in range(members)
        )

    @classmethod
    def of(cls, members: list[SequenceClassifier]) -> ClassifierEnsemble:
        """An ensemble of these (trained) classifiers, which must share one configuration."""
        if any(member.config() != members[0].config() for member in members):
            raise ValueError("the members of an ensemble must share one configuration")
        ensemble = cls(len(members), members[0].config())
        ensemble.members = nn.ModuleList(members)
        return ensemble

    def config(self) -> dict[str, Any]:
        """The members' configuration with ``members`` added (flat, so that a reader of a single
        classifier's config finds the same keys)."""
        return {"members": len(self.members), **self.members[0].config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ClassifierEnsemble:
        member_config = {key: value for key, value in config.items() if key != "members"}
        return cls(int(config["members"]), member_config)

    @property
    def num_classes(self) -> int:
        return self.members[0].num_classes

    def forward_with_weights(
        self, x: Tensor, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """(log of the members' mean probabilities ``(B, K)``, their mean attention weights
        ``(B, T)`` or None)."""
        outputs = [member.forward_with_weights(x, lengths) for member in self.members]
        probabilities = torch.stack(
            [torch.softmax(logits.float(), dim=-1) for logits, _ in outputs]
        )
        weights = [w for _, w in outputs if w is not None]
        mean_weights = torch.stack(weights).mean(dim=0) if weights else None
        return probabilities.mean(dim=0).log(), mean_weights

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.forward_with_weights(x, lengths)[0]

    # --- transfer -------------------------------------------------------------------------------

    def pretrained_groups(self) -> list[list[nn.Parameter]]:
        """Level ``i`` holds every member's group ``i`` (see ``SequenceClassifier``)."""
        levels = zip(*(member.pretrained_groups() for member in self.members), strict=True)
        return [[p for group in level for p in group] for level in levels]

    def freeze_bottom(self, frozen_groups: int) -> None:
        for member in self.members:
            member.freeze_bottom(frozen_groups)
