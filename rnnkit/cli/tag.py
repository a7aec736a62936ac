"""``rnnkit train tag``: the command line of ``rnnkit.tasks.tag``, made from ``TagOptions``
(``rnnkit predict`` serves tag runs too; it lives in ``rnnkit/cli/classify.py``)."""

from __future__ import annotations

from rnnkit.cli.train_command import register_train_command
from rnnkit.tasks import tag

register_train_command(tag.TASK_SPEC)
