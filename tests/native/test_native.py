"""Building and loading the C kernels: cached builds, and a clean fall-back without a compiler."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from rnnkit import native
from rnnkit.native import layernorm


@pytest.fixture(autouse=True)
def fresh_loader() -> Iterator[None]:
    """Each test loads from scratch, and leaves no library (or missing one) cached behind it."""
    native._load.cache_clear()
    yield
    native._load.cache_clear()


needs_compiler = pytest.mark.skipif(native._compiler() is None, reason="no C compiler here")


@needs_compiler
def test_a_build_is_cached_and_reused(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path))
    assert layernorm.kernel() is not None
    (library,) = tmp_path.glob("layernorm-*.so")
    built_at = library.stat().st_mtime_ns
    native._load.cache_clear()
    assert layernorm.kernel() is not None
    assert [p.name for p in tmp_path.iterdir()] == [library.name]  # no scratch left behind
    assert library.stat().st_mtime_ns == built_at


def test_without_a_compiler_load_warns_once_and_returns_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(native, "_compiler", lambda: None)
    with pytest.warns(RuntimeWarning, match="no C compiler.*pure-PyTorch path"):
        assert layernorm.kernel() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layernorm.kernel() is None  # the answer is kept: no second warning


def test_a_failing_build_warns_and_returns_none(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_FLAGS", [*native._FLAGS, "--no-such-flag-rnnkit"])
    monkeypatch.setattr(native, "_compiler", lambda: "cc")
    if native.shutil.which("cc") is None:
        pytest.skip("no cc here")
    with pytest.warns(RuntimeWarning, match="building it failed"):
        assert native.load("layernorm") is None
    assert not list(tmp_path.glob("*.so"))


def test_rnnkit_native_0_turns_the_kernels_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(*args, **kwargs):
        raise AssertionError("a kernel was built although RNNKIT_NATIVE=0")

    monkeypatch.setenv("RNNKIT_NATIVE", "0")
    monkeypatch.setattr(native, "_build", no_build)
    assert layernorm.kernel() is None
