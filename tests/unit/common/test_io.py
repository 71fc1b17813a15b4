import json
import math

import numpy as np
import pytest

from repro.common.io import atomic_dir, atomic_open, flatten, read_json, write_json, write_json_if_changed


def test_atomic_open_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("partial")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_open_keeps_old_content_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("new")
            raise RuntimeError
    assert target.read_text() == "old"


def test_atomic_dir_swaps_in_on_success_and_keeps_old_on_error(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("v1")
    assert (target / "a.txt").read_text() == "v1"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "v1"
    with atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("v2")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary or old folder left


def test_write_json_converts_numpy_and_nan(tmp_path):
    p = tmp_path / "n.json"
    write_json(p, {"a": np.float64(1.5), "b": np.arange(2), "c": math.nan, "d": {"e": np.int64(3)}})
    assert read_json(p) == {"a": 1.5, "b": [0, 1], "c": None, "d": {"e": 3}}
    json.loads(p.read_text())  # strict JSON


def test_write_json_if_changed_keeps_mtime(tmp_path):
    p = tmp_path / "params.json"
    assert write_json_if_changed(p, {"x": 1})
    mtime = p.stat().st_mtime_ns
    assert not write_json_if_changed(p, {"x": 1})
    assert p.stat().st_mtime_ns == mtime
    assert write_json_if_changed(p, {"x": 2})
    assert read_json(p) == {"x": 2}


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_atomic_writes_get_the_permissions_of_a_plain_open(tmp_path):
    """mkstemp/mkdtemp create 0600/0700; results must be readable by the group like any other file."""
    import os

    from repro.common.io import atomic_dir, atomic_write_text

    mask = os.umask(0o022)
    os.umask(mask)
    atomic_write_text(tmp_path / "a.txt", "x")
    plain = tmp_path / "b.txt"
    plain.write_text("x")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("x")
    (tmp_path / "e").mkdir()
    assert (tmp_path / "d").stat().st_mode & 0o777 == (tmp_path / "e").stat().st_mode & 0o777
