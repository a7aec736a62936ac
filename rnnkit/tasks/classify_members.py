"""Classifiers that a classify run trains before its own training: ``--ensemble`` and ``--refit``.

Both answer the same weakness of a small data set: without ``--val``, a run holds out a tenth of
its examples (80-100 sentences of a thousand) and keeps the weights of the epoch that scores best
on them, a choice that is noisy and that never learns from those examples.

- ``--ensemble K`` trains K classifiers one after the other, each exactly as a run of its own with
  ``--seed S + i`` would be (its own initial weights, dropout, batch order, stratified hold-out and
  best epoch), on the run's one encoder, and averages their probabilities (bagging over hold-outs,
  Breiman 1996; seeds, Lakshminarayanan et al. 2017). Together the members learn from every
  example. Member ``i`` runs in ``members/<i>/`` of the run directory, with its own metrics and
  checkpoints, so a killed run resumes inside the member it was training.
- ``--refit`` trains once with the hold-out to choose the number of epochs (the kept epoch, in
  ``selection/``), then trains again from the same initial weights on every example for that many
  epochs and keeps the last weights.

The functions here run a ``Trainer`` on a model and an objective that the task builds; they know
nothing of how examples are read or encoded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.data.labelled import stratified_split
from rnnkit.tasks.lifecycle import storable_results
from rnnkit.training import Objective, Trainer, TrainOptions

#: the folders of a run directory that hold its members' runs and a refit's selection run
MEMBERS_DIR = "members"
SELECTION_DIR = "selection"


@dataclass
class Examples:
    """Encoded examples and their class indices: ``inputs[n]`` is ``(T_n,)`` token ids (or
    ``(T_n, 1 + G)`` with character n-grams, ``(T_n, F)`` features); ``labels`` is ``(N,)``."""

    inputs: list[Tensor]
    labels: Tensor

    def take(self, rows: Sequence[int]) -> Examples:
        """The examples at ``rows``, in that order."""
        return Examples([self.inputs[r] for r in rows], self.labels[list(rows)])


#: builds the objective of a training part and a validation part (None: no validation)
ObjectiveFactory = Callable[[Examples, Examples | None], Objective]


@dataclass
class Pool:
    """Every labelled example of ``--data`` in file order, and how a run with seed ``s`` splits
    them: ``val_fraction`` of each class held out (``stratified_split`` with seed ``s``), or,
    with ``val`` (``--val``), all of them for training and ``val`` for validation."""

    examples: Examples
    #: each example's label as its file writes it (the split draws per class in their order)
    label_names: list[str]
    val_fraction: float
    val: Examples | None = None

    def held_out_rows(self, seed: int) -> list[int]:
        """The rows a run with ``seed`` holds out (none with ``val``)."""
        if self.val is not None:
            return []
        return stratified_split(self.label_names, self.val_fraction, seed)[1]

    def split(self, seed: int) -> tuple[Examples, Examples]:
        """(training part, validation part) of a run with ``seed``."""
        if self.val is not None:
            return self.examples, self.val
        train_rows, val_rows = stratified_split(self.label_names, self.val_fraction, seed)
        return self.examples.take(train_rows), self.examples.take(val_rows)


def train_member(
    model: nn.Module,
    pool: Pool,
    make_objective: ObjectiveFactory,
    options: TrainOptions,
    run_dir: Path,
) -> dict[str, Any]:
    """Train ``model`` in place as a run with ``options.seed`` would: on its split of ``pool``,
    keeping the weights of its best validation; its files in ``run_dir``. Returns its results."""
    train, val = pool.split(options.seed)
    return storable_results(Trainer(model, make_objective(train, val), options, run_dir).fit())


def train_members(
    build: Callable[[int], nn.Module],
    count: int,
    pool: Pool,
    make_objective: ObjectiveFactory,
    options: TrainOptions,
    out: Path,
) -> tuple[list[nn.Module], list[dict[str, Any]]]:
    """``count`` members: member ``i`` built by ``build(seed + i)`` (which seeds its weights),
    trained by ``train_member`` with seed ``seed + i`` in ``out/members/<i>``, each with
    ``1 / count`` of ``options.time_limit`` (the run keeps the user's budget).

    A member stopped by Ctrl-C (``stop_reason`` ``interrupted``) ends the loop: the members
    after it are untrained copies of its shape (``build``, which may pretrain, is not called),
    and ``--resume`` continues inside the stopped one.

    Returns (the members, the results of those that trained)."""
    time_limit = None if options.time_limit is None else options.time_limit / count
    members, results = [], []
    for i in range(count):
        if results and results[-1].get("stop_reason") == "interrupted":
            members.append(_copy(members[-1]))  # a placeholder; only its shape is stored
            continue
        member_options = dataclasses.replace(options, seed=options.seed + i, time_limit=time_limit)
        model = build(member_options.seed)
        members.append(model)
        run_dir = out / MEMBERS_DIR / str(i)
        results.append(train_member(model, pool, make_objective, member_options, run_dir))
    return members, results


def out_of_bag(
    members: Sequence[nn.Module],
    pool: Pool,
    seed: int,
    predict: Callable[[nn.Module, list[Tensor]], Tensor],
) -> tuple[list[int], Tensor]:
    """The ensemble's out-of-bag predictions: the rows of ``pool`` that at least one member
    (member ``i`` trained with ``seed + i``) held out, in row order, and for each the mean of
    the probabilities ``(R, K)`` of the members that held it out (a row no member learnt from
    is scored only by members that never saw it, as in Breiman's out-of-bag estimate).
    ``predict(model, inputs)`` gives ``(N, K)`` probabilities."""
    held = [set(pool.held_out_rows(seed + i)) for i in range(len(members))]
    rows = sorted(set().union(*held))
    if not rows:
        return [], torch.empty(0)
    total: Tensor | None = None  # (R, K), once the number of classes is known
    counts = torch.zeros(len(rows), 1)
    for member, rows_out in zip(members, held, strict=True):
        chosen = [k for k, row in enumerate(rows) if row in rows_out]
        if not chosen:
            continue
        probabilities = predict(member.eval(), [pool.examples.inputs[rows[k]] for k in chosen])
        if total is None:
            total = probabilities.new_zeros(len(rows), probabilities.shape[1])
        total[chosen] += probabilities
        counts[chosen] += 1
    assert total is not None  # every row was held out by some member
    return rows, total / counts


def select_epochs(
    model: nn.Module,
    pool: Pool,
    make_objective: ObjectiveFactory,
    options: TrainOptions,
    out: Path,
) -> tuple[int, dict[str, Any]]:
    """Train a copy of ``model`` with the hold-out in ``out/selection``; (the number of epochs
    after which its kept weights were reached, at least 1; its results)."""
    train, val = pool.split(options.seed)
    objective = make_objective(train, val)
    trainer = Trainer(_copy(model), objective, options, out / SELECTION_DIR)
    results = storable_results(trainer.fit())
    best_step = results.get("best_step") or results["step"]
    return max(1, round(best_step / objective.batches_per_epoch())), results


def _copy(model: nn.Module) -> nn.Module:
    """An independent copy of ``model`` (the same weights, its own tensors)."""
    copy = type(model).from_config(model.config())  # type: ignore[attr-defined]
    copy.load_state_dict(model.state_dict())
    return copy


def mean_member_metrics(results: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The mean over members of each validation metric of their kept weights."""
    metrics = [r.get("metrics", {}) for r in results]
    names = set.intersection(*(set(m) for m in metrics)) if metrics else set()
    return {name: sum(m[name] for m in metrics) / len(metrics) for name in sorted(names)}
