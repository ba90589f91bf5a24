"""netra.env.IsolatedEnvironment: layered, recorded access to environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from netra.env import IsolatedEnvironment

if TYPE_CHECKING:
    from conftest import MakeEnv


DOTENV = "\n".join(
    [
        "# a comment line",
        "NETRA_PLAIN=plain",
        "",
        "export NETRA_EXPORTED=exported",
        'NETRA_DOUBLE="two words"',
        "NETRA_SINGLE='single # not a comment'",
        "NETRA_MISMATCHED=\"left only'",
        "NETRA_EMPTY=",
        'NETRA_QUOTED_EMPTY=""',
        "  NETRA_SPACED = spaced value  ",
        "NETRA_URL=postgresql://u:p@h/db?sslmode=require&a=b",
        "this line has no equals sign",
        "   # an indented comment",
        "NETRA_SHADOWED=from-file",
    ]
)


@pytest.fixture
def dotenv_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(DOTENV, encoding="utf-8")
    return path


def test_get_reads_base_mapping(make_env: MakeEnv) -> None:
    env = make_env({"NETRA_PORT": "9000"})
    assert env.get("NETRA_PORT") == "9000"
    assert env.get("NETRA_MISSING") is None
    assert env.get("NETRA_MISSING", "fallback") == "fallback"


def test_contains_is_true_only_for_present_keys(make_env: MakeEnv) -> None:
    env = make_env({"NETRA_EMPTY": ""})
    assert "NETRA_EMPTY" in env  # an empty value is still set
    assert "NETRA_MISSING" not in env
    assert 42 not in env


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("NETRA_PLAIN", "plain"),
        ("NETRA_EXPORTED", "exported"),
        ("NETRA_DOUBLE", "two words"),
        ("NETRA_SINGLE", "single # not a comment"),
        ("NETRA_MISMATCHED", "\"left only'"),
        ("NETRA_EMPTY", ""),
        ("NETRA_QUOTED_EMPTY", ""),
        ("NETRA_SPACED", "spaced value"),
        ("NETRA_URL", "postgresql://u:p@h/db?sslmode=require&a=b"),
    ],
)
def test_dotenv_values(make_env: MakeEnv, dotenv_file: Path, key: str, value: str) -> None:
    env = make_env({}, dotenv=dotenv_file)
    assert env.get(key) == value


def test_dotenv_skips_comments_and_lines_without_equals(
    make_env: MakeEnv, dotenv_file: Path
) -> None:
    keys = set(make_env({}, dotenv=dotenv_file).as_dict())
    assert not any(key.startswith("#") or " " in key for key in keys)
    assert "export NETRA_EXPORTED" not in keys
    assert "NETRA_EXPORTED" in keys


def test_base_wins_over_dotenv(make_env: MakeEnv, dotenv_file: Path) -> None:
    env = make_env({"NETRA_SHADOWED": "from-base"}, dotenv=dotenv_file)
    assert env.get("NETRA_SHADOWED") == "from-base"
    assert env.as_dict()["NETRA_SHADOWED"] == "from-base"


def test_missing_dotenv_file_is_ignored(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env({"A": "1"}, dotenv=tmp_path / "does-not-exist.env")
    assert env.as_dict() == {"A": "1"}


def test_overlay_shadows_base_and_pop_restores(make_env: MakeEnv) -> None:
    base = {"NETRA_ENV": "development"}
    env = make_env(base)
    env.push({"NETRA_ENV": "test", "NETRA_NEW": "1"})
    assert env.get("NETRA_ENV") == "test"
    assert env.get("NETRA_NEW") == "1"
    env.pop()
    assert env.get("NETRA_ENV") == "development"
    assert env.get("NETRA_NEW") is None


def test_overlays_never_write_to_the_base_mapping() -> None:
    base = {"NETRA_ENV": "development"}
    env = IsolatedEnvironment(base)
    env.push({"NETRA_ENV": "test", "NETRA_NEW": "1"})
    env.set("NETRA_OTHER", "2")
    assert base == {"NETRA_ENV": "development"}


def test_none_hides_a_key_from_every_view(make_env: MakeEnv, dotenv_file: Path) -> None:
    env = make_env({"NETRA_SECRET_KEY": "s" * 40}, dotenv=dotenv_file)
    env.push({"NETRA_SECRET_KEY": None, "NETRA_PLAIN": None})
    assert env.get("NETRA_SECRET_KEY") is None
    assert env.get("NETRA_SECRET_KEY", "default") == "default"
    assert "NETRA_SECRET_KEY" not in env
    assert "NETRA_PLAIN" not in env  # hides dotenv values too
    assert "NETRA_SECRET_KEY" not in env.as_dict()
    assert "NETRA_SECRET_KEY" not in env.with_prefix("NETRA_")
    env.pop()
    assert env.get("NETRA_SECRET_KEY") == "s" * 40


def test_newest_overlay_wins_and_each_pop_unwinds_one_layer(make_env: MakeEnv) -> None:
    env = make_env({"K": "base"})
    env.push({"K": "one"})
    env.push({"K": None})
    env.push({"K": "three"})
    assert env.depth == 3
    seen = []
    for _ in range(3):
        seen.append(env.get("K"))
        env.pop()
    assert seen == ["three", None, "one"]
    assert env.get("K") == "base"
    assert env.depth == 0


def test_pop_without_push_raises(make_env: MakeEnv) -> None:
    env = make_env({})
    with pytest.raises(RuntimeError, match="without a matching push"):
        env.pop()
    env.push()
    env.pop()
    with pytest.raises(RuntimeError, match="without a matching push"):
        env.pop()


def test_set_without_overlay_raises(make_env: MakeEnv) -> None:
    env = make_env({})
    with pytest.raises(RuntimeError, match="push"):
        env.set("NETRA_PORT", "1")
    assert env.get("NETRA_PORT") is None


def test_set_writes_to_newest_overlay_only(make_env: MakeEnv) -> None:
    env = make_env({"K": "base"})
    env.push({"K": "outer"})
    env.push()
    env.set("K", "inner")
    assert env.get("K") == "inner"
    env.set("K", None)
    assert env.get("K") is None
    env.pop()
    assert env.get("K") == "outer"


def test_overlay_context_manager_pops_even_on_error(make_env: MakeEnv) -> None:
    env = make_env({"K": "base"})
    seen: list[str | None] = []

    def fail_inside_overlay() -> None:
        with env.overlay({"K": "temporary"}):
            seen.append(env.get("K"))
            raise LookupError("inside the overlay")

    with pytest.raises(LookupError, match="inside the overlay"):
        fail_inside_overlay()
    assert seen == ["temporary"]
    assert env.get("K") == "base"
    assert env.depth == 0


def test_changed_keys_records_pushed_set_and_hidden_keys(make_env: MakeEnv) -> None:
    env = make_env({"UNTOUCHED": "1", "HIDDEN": "2"})
    assert env.changed_keys == frozenset()
    env.push({"PUSHED": "x", "HIDDEN": None})
    env.set("SET_LATER", "y")
    env.pop()
    # The record survives pop: it lists everything touched since the object was made.
    assert env.changed_keys == {"PUSHED", "HIDDEN", "SET_LATER"}


def test_with_prefix_is_case_sensitive_and_sees_overlays(make_env: MakeEnv) -> None:
    env = make_env({"NETRA_A": "1", "netra_b": "2", "OTHER": "3", "NETRA": "4"})
    env.push({"NETRA_C": "5"})
    assert env.with_prefix("NETRA_") == {"NETRA_A": "1", "NETRA_C": "5"}


def test_as_dict_merges_layers_in_order(make_env: MakeEnv, dotenv_file: Path) -> None:
    env = make_env({"NETRA_PLAIN": "base", "ONLY_BASE": "b"}, dotenv=dotenv_file)
    env.push({"NETRA_PLAIN": "overlay", "ONLY_OVERLAY": "o"})
    merged = env.as_dict()
    assert merged["NETRA_PLAIN"] == "overlay"
    assert merged["ONLY_BASE"] == "b"
    assert merged["ONLY_OVERLAY"] == "o"
    assert merged["NETRA_EXPORTED"] == "exported"
    assert all(value is not None for value in merged.values())
