"""The training loop every task shares.

A task builds a model and an ``Objective`` (its data and loss, see ``rnnkit.training.protocol``),
writes its config, and hands both to the trainer::

    from rnnkit.training import Trainer, TrainOptions, seed_everything, write_config

    options = TrainOptions(lr=2e-3, schedule="cosine", time_limit="10m", patience=3)
    seed_everything(options.seed)                 # the initial weights follow the run's seed
    model = LanguageModel(...)
    write_config(out, "lm", options=options, model=model_config)
    result = Trainer(model, LMObjective(...), options, out).fit()
    result["metrics"]                             # validation metrics of the weights kept

``fit()`` trains until a budget is spent (epochs, max_steps, time_limit), early stopping fires
or the optional ``on_validation`` hook asks to stop (a tuner pruning a trial),
evaluates, keeps the best weights (restored into ``model`` and written as ``model.safetensors``),
and writes ``metrics.csv``, ``loss.png`` and ``checkpoint/``. With ``options.resume`` it continues
from the checkpoint and ends with the same weights as an uninterrupted run. Under ``torchrun`` it
trains data-parallel, each process taking its slice of every batch (see ``distributed.py``).

One step: slice the batch for this rank, move it to the device, set the scheduled learning rate,
``training_step`` under autocast, skip the step if the loss is NaN/Inf, backward, combine gradients
across ranks, clip, skip if the gradient is NaN/Inf, optimiser step, detach the carry (truncated
BPTT: gradients never flow into the previous batch).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.errors import UserError
from rnnkit.training import distributed
from rnnkit.training.averaging import NeighbourAverage, WeightAverage
from rnnkit.training.checkpoint import (
    capture_rng_state,
    checkpoint_path,
    detach_carry,
    flatten_carry,
    load_checkpoint,
    load_optimizer_state,
    optimizer_state,
    restore_rng_state,
    save_checkpoint,
    unflatten_carry,
    with_prefix,
)
from rnnkit.training.options import DEFAULT_EPOCHS, TrainOptions
from rnnkit.training.protocol import Batch, Carry, Objective, ValidationHook, ValidationReport
from rnnkit.training.reporting import MetricsLog, Progress, TensorBoardLog, format_metrics
from rnnkit.training.rundir import (
    LOSS_PLOT_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    copy_weights_into,
    save_weights,
    unique_state_dict,
)
from rnnkit.training.runtime import (
    epoch_generator,
    move_to_device,
    precision_context,
    resolve_device,
    seed_everything,
)
from rnnkit.training.schedule import EarlyStopping, LearningRateSchedule


class TrainingDiverged(UserError):
    """The loss or gradients were NaN/Inf for ``max_bad_steps`` steps in a row."""


def build_optimizer(
    model: nn.Module, options: TrainOptions, groups: list[dict[str, Any]] | None = None
) -> torch.optim.Optimizer:
    """The optimiser named by ``options`` over the model's trainable parameters, or over
    ``groups`` (``{"params": [...], "lr_scale": s}``: each group's rate is ``s`` times the
    scheduled one)."""
    parameters: Any = [p for p in model.parameters() if p.requires_grad]
    if groups is not None:
        parameters = [{**group, "params": list(group["params"])} for group in groups]
    if not parameters:
        raise ValueError("the model has no trainable parameters")
    decay = options.effective_weight_decay()
    if options.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=options.lr, momentum=options.momentum, weight_decay=decay
        )
    if options.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=options.lr, weight_decay=decay)
    if options.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=options.lr, weight_decay=decay)
    raise ValueError(f"unknown optimizer {options.optimizer!r}")


def planned_steps(options: TrainOptions, steps_per_epoch: int) -> int | None:
    """Steps the step budgets allow (None when only a time limit bounds the run)."""
    limits = []
    if options.max_steps is not None:
        limits.append(options.max_steps)
    epochs = planned_epochs(options)
    if epochs is not None:
        limits.append(epochs * steps_per_epoch)
    return min(limits) if limits else None


def planned_epochs(options: TrainOptions) -> int | None:
    """The epoch budget: the given one, or ``DEFAULT_EPOCHS`` when no budget at all is given."""
    if options.epochs is not None:
        return options.epochs
    if options.max_steps is None and options.time_limit is None:
        return DEFAULT_EPOCHS
    return None


@dataclass
class _LoopState:
    """Everything about the loop's position that a checkpoint must restore."""

    step: int = 0  # batches consumed since the start of the run
    epoch: int = 0  # epochs completed
    position: int = 0  # batches consumed in the current epoch
    elapsed: float = 0.0  # seconds of training before this session
    carry: Carry = None
    bad_in_row: int = 0
    last_eval_step: int | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_weights: dict[str, torch.Tensor] | None = None


@dataclass
class _Interval:
    """Training figures accumulated since the last log row."""

    loss_sum: float = 0.0
    items: int = 0
    steps: int = 0
    metric_sums: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def mean_loss(self) -> float:
        return self.loss_sum / self.items if self.items else math.nan

    def mean_metrics(self) -> dict[str, float]:
        return {k: v / max(1, self.steps) for k, v in self.metric_sums.items()}

    def items_per_second(self) -> float:
        return self.items / max(1e-9, time.monotonic() - self.started)


class Trainer:
    """Trains ``model`` on ``objective`` as ``options`` say, writing into ``run_dir``."""

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        options: TrainOptions,
        run_dir: str | Path,
        *,
        on_validation: ValidationHook | None = None,
    ) -> None:
        if not isinstance(options, TrainOptions):
            raise TypeError(f"options must be TrainOptions, got {type(options).__name__}")
        self.model = model
        self.objective = objective
        self.options = options
        self.run_dir = Path(run_dir)
        self.on_validation = on_validation
        self.hook_stop: str | None = None  # the reason the hook gave to stop, once it gave one

    # ------------------------------------------------------------------ public

    def fit(self) -> dict[str, Any]:
        """Train, evaluate, keep the best weights; return the metrics and how the run ended.

        Returns ``{"metrics": <validation metrics of the kept weights>, "monitor" and "mode" (the
        metric that chose them), "last_metrics": ..., "best_step", "step", "epoch", "stop_reason",
        "train_seconds"}``; ``stop_reason`` is one of ``epochs``, ``max_steps``, ``time_limit``,
        ``early_stopping``, ``interrupted``, or the word the ``on_validation`` hook stopped with.
        """
        self.options.validate()
        device = resolve_device(self.options.device)
        self.dist = distributed.init_distributed(device.type)
        if self.dist.enabled and device.type == "cuda":
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        try:
            return self._fit()
        finally:
            distributed.shutdown_distributed(self.dist)

    # ------------------------------------------------------------------ setup

    def _fit(self) -> dict[str, Any]:
        o = self.options
        is_main = self.dist.is_main
        if is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        # Each rank draws its own dropout masks; data order comes from epoch_generator alone.
        seed_everything(o.seed + self.dist.rank)
        self.model.to(self.device)
        if self.dist.enabled:
            distributed.broadcast_module(self.model)
        groups = getattr(self.objective, "parameter_groups", None)
        self.optimizer = build_optimizer(self.model, o, groups(self.model) if groups else None)
        self.average = WeightAverage(self.model, o.ema_decay) if o.weight_average == "ema" else None
        self.neighbours = NeighbourAverage() if o.weight_average == "neighbours" else None
        self.steps_per_epoch = self.objective.batches_per_epoch()
        if self.steps_per_epoch < 1:
            raise ValueError(f"batches_per_epoch() must be >= 1, got {self.steps_per_epoch}")
        self.total_steps = planned_steps(o, self.steps_per_epoch)
        self.epoch_budget = planned_epochs(o)
        self.schedule = LearningRateSchedule(
            o,
            steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps,
            time_limit=o.time_limit,
        )
        self.stopper = EarlyStopping(self.objective.mode, o.patience, o.min_delta)
        self.state = _LoopState()
        self.checkpoint_file = checkpoint_path(self.run_dir)
        self.metrics_log = MetricsLog(self.run_dir / METRICS_FILE, enabled=is_main)
        self.progress = Progress(
            o.progress, enabled=is_main, total_steps=self.total_steps, log_every=o.log_every
        )

        pending_rng = None
        checkpoint = load_checkpoint(self.checkpoint_file) if o.resume else None
        if checkpoint is not None:
            pending_rng = self._restore(checkpoint)
        elif is_main and self.checkpoint_file.exists():
            self.checkpoint_file.unlink()  # a fresh run must never resume a stale checkpoint
        if o.resume and checkpoint is None:
            self.progress.message(f"no checkpoint in {self.run_dir}; training from the start")
        if checkpoint is None:
            self.metrics_log.start(None)
        else:  # rows logged after the checkpoint was written are logged again, so dropped
            self.metrics_log.start(self.state.step, checkpoint.state.get("metrics_rows"))
        self.tensorboard = TensorBoardLog(
            self.run_dir / "tensorboard", enabled=o.tensorboard and is_main, progress=self.progress
        )
        self.session_start = self._clock()
        self.session_first_step = self.state.step
        self.last_checkpoint_time = time.monotonic()

        with self.progress, _StopRequests(self.progress) as stop_requests:
            if checkpoint is not None:
                self.progress.message(
                    f"resuming from step {self.state.step} (epoch {self.state.epoch})"
                )
            self.stop_requests = stop_requests
            stop_reason = self._loop(pending_rng)
            if stop_reason != "interrupted" and self.state.last_eval_step != self.state.step:
                self._evaluate()
            self._save_checkpoint()
        return self._finish(stop_reason)

    # ------------------------------------------------------------------ the loop

    def _loop(self, pending_rng: dict[str, torch.Tensor] | None) -> str:
        """Run epochs until a budget, early stopping or a stop request ends training."""
        state = self.state
        self.interval = _Interval()
        while True:
            if self.epoch_budget is not None and state.epoch >= self.epoch_budget:
                return "epochs"
            if self.total_steps is not None and state.step >= self.total_steps:
                return "max_steps"
            if pending_rng is not None:
                restore_rng_state(pending_rng)
            batches = self._epoch_batches(state.epoch, skip=state.position)
            if pending_rng is not None:
                # Replaying the skipped batches may have drawn from the global RNGs: set them again.
                restore_rng_state(pending_rng)
                pending_rng = None
            for batch in batches:
                self._train_step(batch)
                reason = self._after_step()
                if reason is not None:
                    return reason
            if state.position == 0:
                raise ValueError(f"train_batches(epoch={state.epoch}) yielded no batches")
            state.epoch += 1
            state.position = 0
            state.carry = None  # a new epoch starts its streams afresh
            if self.options.eval_every is None:
                self._evaluate()
                if self.hook_stop is not None:
                    return self.hook_stop
                if self.stopper.should_stop:
                    return "early_stopping"
            if self.options.checkpoint_every is None:
                self._save_checkpoint()

    def _epoch_batches(self, epoch: int, skip: int) -> Iterator[Batch]:
        batches = iter(
            self.objective.train_batches(epoch, epoch_generator(self.options.seed, epoch))
        )
        for _ in range(skip):
            next(batches, None)
        return batches

    def _train_step(self, batch: Batch) -> None:
        o, state = self.options, self.state
        shard = distributed.shard_batch(batch, self.dist.rank, self.dist.world_size)
        # A global batch smaller than the world leaves this rank no rows: it then computes on
        # the batch's first row, weighted zero, so that it takes part in every collective with
        # a carry of the same structure as the other ranks'.
        idle = any(t.shape[0] == 0 for t in shard.values())
        batch = move_to_device({k: t[:1] for k, t in batch.items()} if idle else shard, self.device)
        lr = self.schedule.lr_at(state.step, self._elapsed())
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        self.model.train()
        with precision_context(self.device, o.precision):
            result = self.objective.training_step(self.model, batch, state.carry)
        loss = result.loss
        loss_value = 0.0 if idle else float(loss.detach().float())
        local_items = 0 if idle else int(result.items)
        items, loss_total = local_items, loss_value * local_items
        bad = not math.isfinite(loss_value)
        if self.dist.enabled:
            totals = torch.tensor(
                [float(bad), float(items), 0.0 if bad else loss_total],
                dtype=torch.float64,
                device=distributed.communication_device(),
            )
            distributed.all_reduce_sum(totals)
            bad, items, loss_total = totals[0].item() > 0, int(totals[1].item()), totals[2].item()
        if not bad:
            loss.backward()
            if self.dist.enabled:
                weight = local_items / max(1, items)
                distributed.combine_gradients(self.model.parameters(), weight)
            bad = not self._clip_gradients()
        if bad:
            self.optimizer.zero_grad(set_to_none=True)
            state.bad_in_row += 1
            state.carry = None  # the state that produced NaN is not worth carrying
            self.progress.message(
                f"warning: step {state.step + 1}: loss or gradient is NaN/Inf; step skipped "
                f"({state.bad_in_row} in a row)"
            )
        else:
            self.optimizer.step()
            if self.average is not None:
                self.average.update(self.model)
            state.bad_in_row = 0
            state.carry = detach_carry(result.carry)
            self.interval.loss_sum += loss_total
            self.interval.items += items
            self.interval.steps += 1
            for name, value in result.metrics.items():
                total = self.interval.metric_sums.get(name, 0.0) + float(value)
                self.interval.metric_sums[name] = total
        state.step += 1
        state.position += 1
        self.current_lr = lr

    def _clip_gradients(self) -> bool:
        """Clip as the options say; False if the gradient is not finite."""
        o = self.options
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        if not parameters:
            return True
        if o.clip_value is not None:
            torch.nn.utils.clip_grad_value_(parameters, o.clip_value)
        grads = [p.grad for p in parameters]
        norm = torch.nn.utils.get_total_norm(grads, error_if_nonfinite=False)
        if not torch.isfinite(norm):
            return False
        if o.clip_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(parameters, o.clip_norm, norm)
        return True

    def _after_step(self) -> str | None:
        """Log, evaluate, checkpoint and check budgets after a step; the stop reason or None."""
        o, state = self.options, self.state
        if state.bad_in_row >= o.max_bad_steps:
            self._save_checkpoint()
            raise TrainingDiverged(
                f"training stopped: the loss or gradients were NaN/Inf in {state.bad_in_row} "
                f"steps in a row at step {state.step}; lower the learning rate (--lr, now "
                f"{o.lr:g}) or clip gradients harder (--clip-norm), or use --precision fp32."
            )
        self._report_step()
        stopping = False
        if o.eval_every is not None and state.step % o.eval_every == 0:
            self._evaluate()
            stopping = self.stopper.should_stop or self.hook_stop is not None
        elapsed = self._elapsed()
        out_of_time = o.time_limit is not None and elapsed >= o.time_limit
        checkpoint_due = time.monotonic() - self.last_checkpoint_time >= o.checkpoint_seconds
        stop_requested = self.stop_requests.requested
        if self.dist.enabled:
            out_of_time, checkpoint_due, stop_requested = distributed.agree(
                [out_of_time, checkpoint_due, stop_requested]
            )
        if o.checkpoint_every is not None:
            checkpoint_due = state.step % o.checkpoint_every == 0
        if checkpoint_due and not (stopping or stop_requested):
            self._save_checkpoint()
        if stop_requested:
            return "interrupted"
        if self.hook_stop is not None:
            return self.hook_stop
        if stopping:
            return "early_stopping"
        if o.max_steps is not None and state.step >= o.max_steps:
            return "max_steps"
        if out_of_time:
            return "time_limit"
        return None

    # ------------------------------------------------------------------ reporting

    def _clock(self) -> float:
        """Seconds on the clock ``--clock`` names: wall (monotonic) or this process's CPU time."""
        return time.process_time() if self.options.clock == "cpu" else time.monotonic()

    def _elapsed(self) -> float:
        """Seconds of training so far (on ``--clock``), sessions before this one included."""
        return self.state.elapsed + (self._clock() - self.session_start)

    def _epoch_progress(self) -> float:
        return self.state.epoch + self.state.position / self.steps_per_epoch

    def _report_step(self) -> None:
        state, interval = self.state, self.interval
        eta = self._eta()
        shown = interval.mean_metrics()
        monitor = self.objective.monitor
        if monitor in state.last_metrics:
            shown[f"val_{monitor}"] = state.last_metrics[monitor]
        self.progress.update(
            step=state.step,
            epoch=self._epoch_progress(),
            loss=interval.mean_loss(),
            metrics=shown,
            items_per_second=interval.items_per_second(),
            lr=self.current_lr,
            eta_seconds=eta,
        )
        if state.step % self.options.log_every == 0 and interval.items:
            row = {
                "step": state.step,
                "epoch": round(self._epoch_progress(), 4),
                "train_loss": interval.mean_loss(),
                "items_per_s": interval.items_per_second(),
                "lr": self.current_lr,
                **{f"train_{k}": v for k, v in interval.mean_metrics().items()},
            }
            self.metrics_log.append(row)
            self.tensorboard.scalars(
                state.step,
                {
                    "train/loss": row["train_loss"],
                    "train/items_per_s": row["items_per_s"],
                    "train/lr": row["lr"],
                },
            )
            self.interval = _Interval()

    def _eta(self) -> float | None:
        session_steps = self.state.step - self.session_first_step
        seconds = self._clock() - self.session_start
        estimates = []
        if self.total_steps is not None and session_steps > 0:
            estimates.append((self.total_steps - self.state.step) * seconds / session_steps)
        if self.options.time_limit is not None:
            estimates.append(self.options.time_limit - self._elapsed())
        return min(estimates) if estimates else None

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self) -> None:
        """Validate; update early stopping, plateau schedule and best weights; log a row.

        With ``--weight-average`` the averaged weights are the ones validated and kept.
        """
        average = self.average
        with average.swapped_in(self.model) if average else contextlib.nullcontext():
            self._validate()

    def _evaluated_metrics(self) -> dict[str, float]:
        """The objective's validation metrics of the model's current weights."""
        rng = capture_rng_state()  # evaluation must not shift the training random streams
        self.model.eval()
        with torch.no_grad(), precision_context(self.device, self.options.precision):
            metrics = {k: float(v) for k, v in self.objective.evaluate(self.model).items()}
        self.model.train()
        restore_rng_state(rng)
        return metrics

    def _validate(self) -> None:
        state = self.state
        metrics = self._evaluated_metrics()
        state.last_eval_step = state.step
        state.last_metrics = metrics
        if not metrics:
            return  # no validation data: the last weights are the ones kept
        monitor = self.objective.monitor
        if monitor not in metrics:
            raise ValueError(
                f"evaluate() must return the monitored metric {monitor!r}, got {sorted(metrics)}"
            )
        improved = self.stopper.update(metrics[monitor], state.step)
        self.schedule.observe(self.stopper.oriented(metrics[monitor]))
        weights = None
        if improved or self.neighbours is not None:
            weights = {
                name: t.detach().to("cpu", copy=True)
                for name, t in unique_state_dict(self.model).items()
            }
        if improved:
            state.best_metrics = dict(metrics)
            state.best_weights = weights
        if self.neighbours is not None:
            self.neighbours.observe(weights, improved)
        row = {"step": state.step, "epoch": round(self._epoch_progress(), 4)}
        row.update({f"val_{name}": value for name, value in metrics.items()})
        self.metrics_log.append(row)
        self.tensorboard.scalars(state.step, {f"val/{k}": v for k, v in metrics.items()})
        marker = " (best)" if improved else ""
        self.progress.message(f"step {state.step} validation: {format_metrics(metrics)}{marker}")
        if self.on_validation is not None:
            report = ValidationReport(
                step=state.step,
                epoch=self._epoch_progress(),
                seconds=self._elapsed(),
                metrics=dict(metrics),
                monitor=monitor,
                mode=self.objective.mode,
            )
            self.hook_stop = self.hook_stop or self.on_validation(report)

    # ------------------------------------------------------------------ checkpoints

    def _save_checkpoint(self) -> None:
        """Write the whole training state (collective under DDP; rank 0 writes)."""
        state = self.state
        optimizer_tensors, optimizer_document = optimizer_state(self.optimizer)
        tensors = with_prefix("model", unique_state_dict(self.model))
        tensors.update(with_prefix("optimizer", optimizer_tensors))
        if state.best_weights is not None:
            tensors.update(with_prefix("best", state.best_weights))
        if self.average is not None:
            tensors.update(with_prefix("average", self.average.tensors))
        neighbours_document = None
        if self.neighbours is not None:
            neighbour_tensors, neighbours_document = self.neighbours.state()
            tensors.update(with_prefix("neighbours", neighbour_tensors))
        carry_structure, carry_tensors = flatten_carry(state.carry)
        per_rank = {
            **with_prefix("rng", capture_rng_state()),
            **with_prefix("carry", carry_tensors),
        }
        if self.dist.enabled:
            for name in sorted(per_rank):
                for rank, tensor in enumerate(distributed.gather_tensors(per_rank[name])):
                    tensors[f"rank{rank}.{name}"] = tensor
        else:
            tensors.update(with_prefix("rank0", per_rank))
        document = {
            "step": state.step,
            "epoch": state.epoch,
            "position": state.position,
            "elapsed": self._elapsed(),
            "world_size": self.dist.world_size,
            "bad_in_row": state.bad_in_row,
            "last_eval_step": state.last_eval_step,
            "last_metrics": state.last_metrics,
            "best_metrics": state.best_metrics,
            "metrics_rows": len(self.metrics_log.rows),
            "carry": carry_structure,
            "optimizer": optimizer_document,
            "schedule": self.schedule.state_dict(),
            "early_stopping": self.stopper.state_dict(),
            "average_updates": self.average.updates if self.average is not None else None,
            "neighbours": neighbours_document,
            "options": self.options.to_dict(),
        }
        if self.dist.is_main:
            save_checkpoint(self.checkpoint_file, document, tensors)
        self.last_checkpoint_time = time.monotonic()

    def _restore(self, checkpoint) -> dict[str, torch.Tensor] | None:
        """Load a checkpoint into model, optimiser and loop; return this rank's RNG state."""
        document, state = checkpoint.state, self.state
        _copy_into(self.model, checkpoint.tensors_under("model"), self.checkpoint_file)
        load_optimizer_state(
            self.optimizer, checkpoint.tensors_under("optimizer"), document["optimizer"]
        )
        best = checkpoint.tensors_under("best")
        state.best_weights = best or None
        if self.average is not None:
            self.average.load(checkpoint.tensors_under("average"), document["average_updates"])
        if self.neighbours is not None and document.get("neighbours") is not None:
            self.neighbours.load(
                checkpoint.tensors_under("neighbours.previous"),
                checkpoint.tensors_under("neighbours.total"),
                document["neighbours"],
            )
        state.step, state.epoch = document["step"], document["epoch"]
        state.position, state.elapsed = document["position"], document["elapsed"]
        state.bad_in_row = document["bad_in_row"]
        state.last_eval_step = document["last_eval_step"]
        state.last_metrics, state.best_metrics = document["last_metrics"], document["best_metrics"]
        self.schedule.load_state_dict(document["schedule"])
        self.stopper.load_state_dict(document["early_stopping"])
        mine = f"rank{self.dist.rank}"
        if document["world_size"] != self.dist.world_size:
            self.progress.message(
                f"warning: the checkpoint was written by {document['world_size']} processes, this "
                f"run has {self.dist.world_size}; recurrent state and random streams restart."
            )
            state.carry = None
            return None
        state.carry = unflatten_carry(
            document["carry"], checkpoint.tensors_under(f"{mine}.carry"), self.device
        )
        return checkpoint.tensors_under(f"{mine}.rng")

    # ------------------------------------------------------------------ the end

    def _finish(self, stop_reason: str) -> dict[str, Any]:
        state = self.state
        averaged = self.neighbours.mean() if self.neighbours is not None else None
        if averaged is not None:
            _copy_into(self.model, averaged, "the averaged weights")
            if self.neighbours.count > 1:  # the metrics reported are the kept weights'
                state.best_metrics = self._evaluated_metrics()
        elif state.best_weights is not None:
            _copy_into(self.model, state.best_weights, "the best weights")
        elif self.average is not None:  # no validation data: the last average is kept
            self.average.copy_to(self.model)
        if self.dist.is_main:
            save_weights(self.model, self.run_dir / WEIGHTS_FILE)
            self._plot()
        self.tensorboard.close()
        metrics = state.best_metrics or state.last_metrics
        self.progress.message(
            f"training ended ({stop_reason.replace('_', ' ')}) at step {state.step}; "
            f"kept weights: {format_metrics(metrics) or 'last'}"
        )
        if stop_reason == "interrupted":
            self.progress.message(f"checkpoint saved; continue with --resume in {self.run_dir}")
        return {
            "metrics": metrics,
            "monitor": self.objective.monitor,
            "mode": self.objective.mode,
            "last_metrics": state.last_metrics,
            "best_step": self.stopper.best_step,
            "step": state.step,
            "epoch": self._epoch_progress(),
            "stop_reason": stop_reason,
            "train_seconds": self._elapsed(),
        }

    def _plot(self) -> None:
        from rnnkit.viz.curves import plot_loss_curves

        try:
            plot_loss_curves(
                self.metrics_log.rows,
                self.run_dir / LOSS_PLOT_FILE,
                validation_metric=self.objective.monitor,
            )
        except Exception as error:  # a plot must never cost the user a finished run
            self.progress.message(f"warning: could not draw {LOSS_PLOT_FILE}: {error}")


def _copy_into(model: nn.Module, tensors: dict[str, torch.Tensor], source: Any) -> None:
    """Copy named tensors into the model's parameters and buffers, checking names and shapes."""
    expected = unique_state_dict(model)
    if set(expected) != set(tensors) or any(
        tuple(expected[n].shape) != tuple(tensors[n].shape) for n in expected
    ):
        raise UserError(
            f"{source} does not fit this model (its tensors differ in names or shapes); resume "
            "with the run's own model options or train into a new --out directory."
        )
    copy_weights_into(expected, tensors)


class _StopRequests(contextlib.AbstractContextManager):
    """Turns the first Ctrl-C (SIGINT) or SIGTERM into a request to stop after the current step.

    The loop then saves a checkpoint and returns cleanly; a second Ctrl-C aborts at once.
    Handlers are installed only in the main thread (Python allows no other).
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequests:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.progress.message(
            "stopping after this step and saving a checkpoint (Ctrl-C again to abort at once)"
        )

    def __exit__(self, *exc_info: Any) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
