"""The teacher-forcing options of the tasks that train a decoder on its own outputs (translate and
caption, whose decoder is an attention decoder, and video's frame forecaster).

Training feeds the decoder the true previous token (or frame) at a share ``teacher_forcing`` of its
steps and its own previous prediction at the others; with ``teacher_forcing_end`` the share decays
linearly to it over ``teacher_forcing_decay_epochs`` (scheduled sampling, Bengio et al. 2015). The
model side is ``rnnkit.models.attention_decoder.AttentionDecoder.decode`` and
``rnnkit.models.video.FramePredictor``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.errors import UserError
from rnnkit.tasks.options import TaskOptions, flag, option
from rnnkit.training.schedule import teacher_forcing_ratio

#: the ``--help`` panel of these options
TEACHING = "Teacher forcing"


@dataclass
class TeacherForcingOptions(TaskOptions):
    """``TaskOptions`` with the teacher-forcing ratio and its schedule."""

    teacher_forcing: float = option(
        1.0, help="Share of steps fed the true previous token (or frame).", panel=TEACHING
    )
    teacher_forcing_end: float | None = option(
        None, help="Scheduled sampling: ratio to decay to.", panel=TEACHING
    )
    teacher_forcing_decay_epochs: float = option(
        10.0, help="Epochs of the linear decay.", panel=TEACHING
    )

    def validate(self) -> TeacherForcingOptions:
        """``TaskOptions.validate``, then the ratios in [0, 1] and a positive decay."""
        super().validate()
        for name in ("teacher_forcing", "teacher_forcing_end"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise UserError(f"{flag(name)} must be in [0, 1], got {value}.")
        if self.teacher_forcing_decay_epochs <= 0:
            raise UserError(
                "--teacher-forcing-decay-epochs must be positive, got "
                f"{self.teacher_forcing_decay_epochs}."
            )
        return self

    def teacher_forcing_at(self, epoch: float) -> float:
        """The teacher-forcing ratio after ``epoch`` epochs (fractional) of training."""
        return teacher_forcing_ratio(
            self.teacher_forcing,
            self.teacher_forcing_end,
            self.teacher_forcing_decay_epochs,
            epoch,
        )
