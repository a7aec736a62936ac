"""Search spaces: every task's own space, space files read per option type, and their checks.

The options' own ``validate()`` is the oracle of what a task accepts; the expected dimensions of
a space file are written out by hand.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rnnkit.errors import UserError
from rnnkit.tasks import TASK_MODULES, classify, lm, task_spec
from rnnkit.tasks.search_space import (
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    check_space,
    read_space_file,
    searched,
    starting_point,
    suggest,
)


def base(task: str):
    options = task_spec(task).options_class(data=Path("data"), out=Path("out"))
    if task in ("forecast", "detect"):
        options = dataclasses.replace(options, target="value")
    return options.validate()


@pytest.mark.parametrize("task", list(TASK_MODULES))
def test_each_task_declares_a_space_of_its_own_options_that_its_validate_accepts(task):
    options = base(task)
    space = type(options).search_space
    assert {"lr", "weight_decay"} <= set(space) and len(searched(space)) >= 4
    check_space(space, options, task)  # every end and every choice passes validate()
    for name, dimension in space.items():
        for value in dimension.candidates():
            dataclasses.replace(options, **{name: value}).validate()  # the same, said plainly


def test_check_space_refuses_a_value_the_task_refuses_and_an_option_it_lacks():
    options = base("classify")
    with pytest.raises(UserError, match=r"gives dropout the value 1\.5.*must be in \[0, 1\)"):
        check_space({"dropout": FloatRange(0.0, 1.5)}, options, "the file")
    with pytest.raises(UserError, match=r"gives pooling the value 'sum'"):
        check_space({"pooling": Choice(("max", "sum"))}, options, "the file")
    with pytest.raises(UserError, match=r"names the option 'hiden'.*did you mean 'hidden'"):
        check_space({"hiden": IntRange(8, 16)}, options, "the file")
    with pytest.raises(UserError, match="'out', which tuning cannot search"):
        check_space({"out": Choice(("a", "b"))}, options, "the file")


def test_a_space_file_is_read_as_each_option_takes_its_values(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(
        "hidden = [64, 512]\n"  # an int option: whole numbers
        "dropout = [0, 0.5]\n"  # a float option: reals, even from whole-number ends
        "lr = { low = 1e-4, high = 1e-2, log = true }\n"
        "embedding-size = { low = 16, high = 64, step = 16 }\n"
        'cell = ["lstm", "gru", "layernorm_lstm"]\n'
        "batch_size = { choices = [16, 32] }\n"
        "bidirectional = [true, false]\n"
        "layers = 2\n"
    )
    assert read_space_file(path, classify.ClassifyOptions) == {
        "hidden": IntRange(64, 512),
        "dropout": FloatRange(0.0, 0.5),
        "lr": FloatRange(1e-4, 1e-2, log=True),
        "embedding_size": IntRange(16, 64, step=16),
        "cell": Choice(("lstm", "gru", "layernorm_lstm")),
        "batch_size": Choice((16, 32)),
        "bidirectional": Choice((True, False)),
        "layers": Fixed(2),
    }


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("hidden = [8.5, 16]", "unusable entry 'hidden'"),
        ("lr = { low = 0, high = 1, log = true }", "unusable entry 'lr'"),
        ("hidden = { low = 8 }", "unusable entry 'hidden'"),
        ("cell = { low = 1, high = 2 }", "unusable entry 'cell'"),
        ("search_space = [1, 2]", "names the option 'search_space'"),
        ("hidden = [", "is not valid TOML"),
    ],
)
def test_a_bad_space_file_is_one_sentence_naming_it(tmp_path, text, words):
    path = tmp_path / "space.toml"
    path.write_text(text + "\n")
    with pytest.raises(UserError, match=words) as caught:
        read_space_file(path, lm.LMOptions)
    assert str(path) in str(caught.value)


def test_drawn_values_lie_in_their_ranges_and_fixed_ones_are_not_drawn():
    optuna = pytest.importorskip("optuna")
    space = {
        "hidden": IntRange(16, 256, log=True),
        "embedding_size": IntRange(10, 40, step=10),
        "dropout": FloatRange(0.1, 0.2),
        "cell": Choice(("lstm", "gru")),
        "layers": Fixed(3),
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        trial = study.ask()
        values = suggest(space, trial)
        assert 16 <= values["hidden"] <= 256 and isinstance(values["hidden"], int)
        assert values["embedding_size"] in (10, 20, 30, 40)
        assert 0.1 <= values["dropout"] <= 0.2 and values["cell"] in ("lstm", "gru")
        assert values["layers"] == 3 and "layers" not in trial.params
        study.tell(trial, 0.0)
    drawn = {t.params["cell"] for t in study.trials}
    assert drawn == {"lstm", "gru"}


def test_the_starting_point_is_the_options_own_values_that_the_space_holds():
    options = dataclasses.replace(base("classify"), hidden=100, dropout=0.9, cell="gru")
    space = {
        "hidden": IntRange(32, 256),
        "dropout": FloatRange(0.0, 0.5),  # 0.9 lies outside: drawn instead
        "cell": Choice(("lstm", "gru")),
        "layers": Fixed(2),  # not searched
        "weight_decay": FloatRange(1e-6, 1e-1, log=True),  # unset: adamw's 0.01
        "embedding_size": IntRange(16, 64, step=16),  # the default 128 lies outside
    }
    assert options.weight_decay is None and options.optimizer == "adamw"
    assert starting_point(space, options) == {"hidden": 100, "cell": "gru", "weight_decay": 0.01}


@pytest.mark.parametrize("task", list(TASK_MODULES))
def test_each_task_space_holds_its_defaults_so_a_search_can_return_to_them(task):
    # the first trial trains the defaults; a default the space lacks is one later trials never try.
    # Two defaults are allowed outside: None (the task sizes it from the data) and a weight decay
    # of 0, which a log range cannot hold but whose low end (1e-6) is as good as 0.
    options = base(task)
    space = searched(type(options).search_space)
    outside = set(space) - set(starting_point(space, options))
    allowed = {name for name in outside if getattr(options, name) is None}
    if options.effective_weight_decay() == 0 and space["weight_decay"].low <= 1e-6:
        allowed.add("weight_decay")
    assert outside == allowed, f"{task}: defaults outside the space: {sorted(outside - allowed)}"
