import hashlib

import pytest

from repro.common.fetch import FetchError, Resource, check_pins, check_sha256, fetch, local_path, mirror_key
from repro.common.io import DataError

URL = "https://raw.githubusercontent.com/ryoungj/ObsScaling/4d6e1e43fd2635d04654aa77d1df9d5266ea0382/eval_results/instruct_llm_agent_eval.csv"


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_mirror_key_forms():
    key = "github.com/ryoungj/ObsScaling/4d6e1e43fd2635d04654aa77d1df9d5266ea0382/eval_results/instruct_llm_agent_eval.csv"
    assert mirror_key(URL) == key
    assert (
        mirror_key(URL.replace("raw.githubusercontent.com/ryoungj/ObsScaling/", "github.com/ryoungj/ObsScaling/raw/"))
        == key
    )
    assert str(local_path(URL, "resources")) == f"resources/{key}"
    with pytest.raises(FetchError):
        mirror_key("file:///etc/passwd")


def test_fetch_from_mirror_verifies_sha(mirror, tmp_path):
    src = mirror / mirror_key(URL)
    dest = tmp_path / "a.csv"
    out = fetch(URL, _sha(src), dest, mirror=mirror)
    assert out == dest and dest.read_bytes() == src.read_bytes()
    # A second call with the file present is a no-op that still checks the hash.
    assert fetch(URL, _sha(src), dest, mirror=mirror) == dest


def test_fetch_sha_mismatch_writes_nothing(mirror, tmp_path):
    dest = tmp_path / "sub" / "a.csv"
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch(URL, "0" * 64, dest, mirror=mirror)
    assert not dest.exists()
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_fetch_missing_from_mirror_names_url_and_variable(tmp_path):
    dest = tmp_path / "a.csv"
    with pytest.raises(FetchError) as err:
        fetch(URL, "0" * 64, dest, mirror=tmp_path / "empty-mirror")
    assert URL in str(err.value) and "REPRO_MIRROR" in str(err.value)
    assert not dest.exists()


def test_fetch_no_network_no_mirror_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("REPRO_MIRROR", raising=False)
    # An unroutable local URL: the download fails at once without touching the internet.
    url = "http://127.0.0.1:9/ryoungj/none.csv"
    dest = tmp_path / "x.csv"
    with pytest.raises(FetchError) as err:
        fetch(url, "0" * 64, dest, timeout=2)
    assert url in str(err.value) and "REPRO_MIRROR" in str(err.value)
    assert not dest.exists()


def test_fetch_replaces_corrupted_copy(mirror, tmp_path):
    src = mirror / mirror_key(URL)
    dest = tmp_path / "a.csv"
    dest.write_text("corrupted")
    fetch(URL, _sha(src), dest, mirror=mirror)
    assert dest.read_bytes() == src.read_bytes()


def test_released_paths_with_spaces_map_to_one_file_and_are_quoted_for_http():
    """A released path with spaces: the literal and percent-encoded URLs share one mirror/local path, and the
    request line sent over HTTP is percent-encoded (urllib refuses a raw space)."""
    from repro.common.fetch import _quoted, mirror_key

    raw = "https://raw.githubusercontent.com/o/r/c/safety data/hard set.json"
    enc = "https://raw.githubusercontent.com/o/r/c/safety%20data/hard%20set.json"
    assert mirror_key(raw) == mirror_key(enc) == "github.com/o/r/c/safety data/hard set.json"
    assert _quoted(raw) == enc and _quoted(enc) == enc


def test_a_pin_must_be_a_sha256():
    """Issue 28: an empty or malformed checksum is refused where the pin is read (at parse time), naming it."""
    good = "0" * 64
    assert check_sha256(good, "x") == good
    for bad, what in [("", "is empty"), (None, "is empty"), ("0" * 63, "not 64"), ("F" * 64, "not 64"), (7, "not 64")]:
        with pytest.raises(DataError, match=f"params.yaml: a.files.b.sha256: the sha256 .*{what}"):
            check_sha256(bad, "params.yaml: a.files.b.sha256")
    with pytest.raises(DataError, match=r"repro\.distalign\.data\.pinned_files: file 'two': the sha256 is empty"):
        check_pins(
            {"one": {"url": URL, "sha256": good}, "two": {"url": URL, "sha256": ""}},
            "repro.distalign.data.pinned_files",
        )
    with pytest.raises(DataError, match=f"Resource {URL}: the sha256 is empty"):
        Resource(URL, "")


def test_a_pin_by_git_blob_id_is_checked_and_fetched(tmp_path, monkeypatch):
    """A released file known offline only by its repository's tree is pinned by git blob id (issue 28: the
    QuALITY files); the id is checked at parse time and verified on download."""
    from repro.common.fetch import check_git_blob
    from repro.common.gitblob import fetch_git_blob, git_blob_sha1

    blob = "cb16a11b32099774dd0a66f0bfbc67a3926b95c3"
    assert check_git_blob(blob, "x") == blob
    check_pins({"train": {"url": URL, "git_blob": blob}}, "repro.entigraph.data.pinned_files")
    for bad in ("", "0" * 39, "G" * 40, None):
        with pytest.raises(DataError, match=r"file 'train': the git blob id is"):
            check_pins({"train": {"url": URL, "git_blob": bad}}, "repro.entigraph.data.pinned_files")
    # verified against the content: git hash-object of b"hello\n" is ce01362...
    mirror = tmp_path / "mirror"
    src = mirror / mirror_key(URL)
    src.parent.mkdir(parents=True)
    src.write_bytes(b"hello\n")
    assert git_blob_sha1(src) == "ce013625030ba8dba906f756967f9e9ca394464a"
    monkeypatch.setenv("REPRO_MIRROR", str(mirror))
    assert fetch_git_blob(URL, "ce013625030ba8dba906f756967f9e9ca394464a", tmp_path / "out").read_bytes() == b"hello\n"
    with pytest.raises(FetchError, match="git blob id mismatch"):
        fetch_git_blob(URL, blob, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
