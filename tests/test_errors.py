"""A missing optional dependency is a user's error that says how to install it."""

from __future__ import annotations

import json

import pytest

from rnnkit.errors import UserError, require_extra


def test_an_installed_module_is_returned():
    assert require_extra("json", "speech", "reading audio") is json


def test_a_missing_module_says_what_needs_it_and_which_extra_installs_it():
    with pytest.raises(UserError) as caught:
        require_extra("no_such_package_here.sub", "speech", "reading audio")
    assert str(caught.value) == (
        "reading audio needs the no_such_package_here package; pip install 'rnnkit[speech]'."
    )
