import hashlib

import pytest

from repro.common.fetch import FetchError, fetch, local_path, mirror_key

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
