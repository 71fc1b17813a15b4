"""Pre-registration you can check (issue 27): a criterion on main is never edited in place.

Every claim version's criterion fields are fingerprinted in ``workflow/expected/<slug>.lock.json``;
the lock only grows. An in-place edit, a deleted version, or a version not yet locked fails here.
"""

import shutil
from pathlib import Path

import pytest

from repro.common.scorecard import ExpectedError, load_expected, lock_path, lock_problems, read_lock, update_lock

ROOT = Path(__file__).resolve().parents[3]
EXPECTED = sorted((ROOT / "workflow/expected").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPECTED, ids=[p.stem for p in EXPECTED])
def test_every_claim_version_matches_its_lock(path):
    problems = lock_problems(load_expected(path), read_lock(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


V1 = """paper: demo
claims:
  - name: beats
    claim: a beats b
    source: Table 1
    scales: [tiny]
    criterion: "{a} > {b}"
"""


@pytest.fixture
def locked(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(V1)
    assert update_lock(path) == ["beats v1"]
    return path


def test_an_edit_in_place_is_caught_and_the_lock_refuses_it(locked):
    locked.write_text(V1.replace('"{a} > {b}"', '"{a} > 0.9 * {b}"'))
    problems = lock_problems(load_expected(locked), read_lock(locked))
    assert problems == [
        "claim 'beats' v1: its criterion changed in place; restore it and write the change as version 2 with "
        "`revision:` (the old one moves under `history:`)"
    ]
    with pytest.raises(ExpectedError, match="changed in place"):
        update_lock(locked)


def test_rewording_the_claim_is_not_a_new_criterion(locked):
    locked.write_text(V1.replace("claim: a beats b", "claim: a is better than b").replace("Table 1", "Table 1, row 2"))
    assert lock_problems(load_expected(locked), read_lock(locked)) == []


def test_a_new_version_is_appended_and_the_old_one_stays(locked):
    v2 = V1.replace(
        '    criterion: "{a} > {b}"\n',
        '    version: 2\n    revision: "beyond noise"\n'
        '    comparison: {effects: ["{a.per_seed} - {b.per_seed}"]}\n'
        '    history:\n      - {version: 1, scales: [tiny], criterion: "{a} > {b}"}\n',
    )
    locked.write_text(v2)
    assert lock_problems(load_expected(locked), read_lock(locked)) == [
        "claim 'beats' v2 is not locked yet: run `python -m repro.common.scorecard lock`"
    ]
    assert update_lock(locked) == ["beats v2"]
    assert set(read_lock(locked)["beats"]) == {"1", "2"}
    # dropping v1 from the history afterwards is refused
    locked.write_text(v2.replace('    history:\n      - {version: 1, scales: [tiny], criterion: "{a} > {b}"}\n', ""))
    with pytest.raises(ExpectedError):
        load_expected(locked)  # v2 without v1: versions must run 1, 2, ...


def test_a_deleted_claim_is_caught(locked, tmp_path):
    shutil.copy(lock_path(locked), tmp_path / "keep.json")
    locked.write_text("paper: demo\nclaims: []\n")
    problems = lock_problems(load_expected(locked), read_lock(locked))
    assert len(problems) == 1 and "locked but gone from the file" in problems[0]
