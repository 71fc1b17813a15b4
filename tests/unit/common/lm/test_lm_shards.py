"""Token shards (issue 29, item 3): a corpus streamed from `datasets`, tokenised in parallel, written to .npy shards
in bounded memory and read back as one flat array by the trainer's sampler (repro.common.lm.shards)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from repro.common.lm.models import ModelConfig, build_model
from repro.common.lm.shards import INDEX_FILE, TokenShards, encode_parallel, open_shards, write_shards
from repro.common.lm.tokenizer import encode_document_stream, train_tokenizer
from repro.common.lm.trainer import TrainConfig, load_tokens, sample_windows, save_token_stream, train

# Uneven chunks (one empty, one of int64 ids) so shard boundaries fall inside chunks and between them.
_rng = np.random.default_rng(0)
CHUNKS = [_rng.integers(0, 50, size=n).astype(np.uint16) for n in (13, 0, 40, 1, 29, 64, 3)]
CHUNKS[2] = CHUNKS[2].astype(np.int64)
FLAT = np.concatenate(CHUNKS).astype(np.uint16)  # 150 tokens


def _shards(tmp_path, shard_tokens: int, chunks=CHUNKS) -> TokenShards:
    write_shards(tmp_path / f"s{shard_tokens}", iter(chunks), np.uint16, shard_tokens=shard_tokens)
    return open_shards(tmp_path / f"s{shard_tokens}")


@pytest.mark.parametrize("shard_tokens", [1, 7, 64, 150, 10_000])
def test_the_shards_hold_the_single_file_stream(tmp_path, shard_tokens):
    n = save_token_stream(tmp_path / "flat.npy", iter(CHUNKS), np.dtype(np.uint16))
    flat = load_tokens(tmp_path / "flat.npy")
    index = write_shards(tmp_path / "sh", iter(CHUNKS), np.uint16, shard_tokens=shard_tokens)

    n_shards = -(-n // shard_tokens)
    names = [f"shard-{i:05d}.npy" for i in range(n_shards)]
    assert sorted(p.name for p in (tmp_path / "sh").iterdir()) == sorted([*names, INDEX_FILE])
    parts = [np.load(tmp_path / "sh" / name) for name in names]  # each shard a valid .npy on its own
    assert [len(p) for p in parts] == [shard_tokens] * (n_shards - 1) + [n - shard_tokens * (n_shards - 1)]
    assert all(p.dtype == np.uint16 for p in parts)
    assert np.concatenate(parts).tobytes() == np.asarray(flat).tobytes()

    on_disk = json.loads((tmp_path / "sh" / INDEX_FILE).read_text())
    assert on_disk == {
        "format": 1,
        "dtype": "uint16",
        "total_tokens": n,
        "shard_tokens": shard_tokens,
        "shards": [{"file": name, "tokens": len(p)} for name, p in zip(names, parts, strict=True)],
    }
    assert index.to_json() == on_disk and index.total_tokens == n == 150

    tokens = load_tokens(tmp_path / "sh")  # every consumer of load_tokens gets the shards
    assert isinstance(tokens, TokenShards)
    assert len(tokens) == n and tokens.shape == (n,) and tokens.dtype == np.uint16
    assert np.array_equal(tokens[:], flat) and np.array_equal(np.asarray(tokens), flat)


def test_indexing_matches_the_flat_array(tmp_path):
    tokens = _shards(tmp_path, 7)
    for i in (0, 6, 7, 8, 149, -1, -150, np.int64(20), np.uint16(21)):
        assert tokens[i] == FLAT[i] and type(tokens[i]) is np.uint16
    for key in (slice(0, 7), slice(5, 9), slice(3, 140), slice(None), slice(-20, None), slice(8, 8), slice(9, 3)):
        assert np.array_equal(tokens[key], FLAT[key]), key
        assert tokens[key].dtype == np.uint16
    for key in (slice(1, 100, 3), slice(None, None, -1), slice(140, 2, -9)):
        assert np.array_equal(tokens[key], FLAT[key]), key
    rng = np.random.default_rng(1)
    for idx in (
        rng.integers(-150, 150, size=(4, 9)),
        np.arange(150)[::-1].copy(),
        np.array([], dtype=np.int64),
        np.array(5),
        [3, 70, 3],
        np.array([[7], [6]], dtype=np.uint8),
    ):
        got = tokens[idx]
        assert got.shape == FLAT[idx].shape and got.dtype == np.uint16 and np.array_equal(got, FLAT[idx])
    assert tokens.min() == FLAT.min() and tokens.max() == FLAT.max() and type(tokens.max()) is np.uint16

    for bad in (150, -151, np.array([0, 150]), np.array([[-151]])):
        with pytest.raises(IndexError, match="out of range"):
            tokens[bad]
    with pytest.raises(IndexError, match="integer"):
        tokens[np.array([0.0, 1.0])]
    with pytest.raises(TypeError, match="1-D"):
        tokens[0, 1]


@pytest.mark.parametrize("shard_tokens", [1, 7, 33, 10_000])
def test_sample_windows_draws_the_same_windows_from_shards(tmp_path, shard_tokens):
    tokens = _shards(tmp_path, shard_tokens)
    crossing = 0
    for seed in range(5):
        x0, y0 = sample_windows(FLAT, 16, 20, np.random.default_rng(seed))
        x1, y1 = sample_windows(tokens, 16, 20, np.random.default_rng(seed))
        assert torch.equal(x0, x1) and torch.equal(y0, y1) and x1.dtype == torch.int64
        offsets = np.random.default_rng(seed).integers(0, len(FLAT) - 20, size=16)  # the sampler's draw
        crossing += int(np.sum(offsets // shard_tokens != (offsets + 20) // shard_tokens))
    if shard_tokens < len(FLAT):  # windows straddling two or more shards were among those compared
        assert crossing >= 10


def test_training_on_shards_equals_training_on_the_flat_array(tmp_path):
    rng = np.random.default_rng(3)
    flat = rng.integers(0, 50, size=400).astype(np.uint16)
    write_shards(tmp_path / "sh", (flat[i : i + 37] for i in range(0, 400, 37)), np.uint16, shard_tokens=7)
    shards = load_tokens(tmp_path / "sh")
    cfg = TrainConfig(steps=3, batch_size=2, context=8, device="cpu", eval_every=0, warmup=0, log_every=1)
    mcfg = ModelConfig(arch="gpt2", n_layer=1, n_head=2, d_model=16, context=16, vocab_size=50)
    runs = []
    for tokens in (flat, shards):
        model = build_model(mcfg, seed=0)
        history = train(model, tokens, cfg, progress=False)
        runs.append(([h["train_loss"] for h in history], model.state_dict()))
    (loss_flat, w_flat), (loss_shards, w_shards) = runs
    assert len(loss_flat) == 3 and all(np.isfinite(loss_flat))
    assert loss_shards == loss_flat
    assert all(torch.equal(w_flat[k], w_shards[k]) for k in w_flat)


TEXTS = [f"doc {i}: " + "the quick brown fox jumps over the lazy dog. " * (i % 5) + str(i * i) for i in range(300)]


@pytest.mark.parametrize("kind,eos_between", [("bpe", True), ("char", False)])
def test_parallel_encoding_is_byte_identical_to_one_process(kind, eos_between):
    tok = train_tokenizer(TEXTS[:50], kind, 300)
    one = list(encode_document_stream(tok, iter(TEXTS), eos_between=eos_between, batch_docs=16))
    serial = list(encode_parallel(tok, iter(TEXTS), workers=1, batch_docs=16, eos_between=eos_between))
    parallel = list(encode_parallel(tok, iter(TEXTS), workers=2, batch_docs=16, eos_between=eos_between))
    assert len(one) == len(serial) == len(parallel) == 19  # 300 documents in batches of 16
    for a, b, c in zip(one, serial, parallel, strict=True):
        assert a.dtype == b.dtype == c.dtype == tok.token_dtype
        assert a.tobytes() == b.tobytes() == c.tobytes()
    assert sum(len(a) for a in one) > 300 * 10


def test_parallel_encoding_of_a_released_tokenizer_by_id(tmp_path, monkeypatch):
    """The paper-scale path: a HubTokenizer (transformers) pickled once into each worker (a local stand-in)."""
    from repro.common.lm.hub import HubTokenizer
    from repro.common.standins.hf import build_tokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_tokenizer(TEXTS[:50], "llama", 320, tmp_path / "tok")
    tok = HubTokenizer(str(tmp_path / "tok"))
    one = list(encode_document_stream(tok, iter(TEXTS), batch_docs=32))
    parallel = list(encode_parallel(tok, iter(TEXTS), workers=2, batch_docs=32))
    assert len(one) == len(parallel) == 10
    assert all(
        a.dtype == b.dtype == np.uint16 and a.tobytes() == b.tobytes() for a, b in zip(one, parallel, strict=True)
    )


def test_parallel_encoding_reads_ahead_a_bounded_number_of_batches():
    tok = train_tokenizer(TEXTS[:50], "char", 300)
    read = 0

    def texts():
        nonlocal read
        for t in TEXTS * 4:  # 1200 documents, 120 batches of 10
            read += 1
            yield t

    stream = encode_parallel(tok, texts(), workers=2, batch_docs=10)
    first = next(stream)
    time.sleep(0.3)  # a background reader (Pool.imap's feeder thread) would drain the whole input meanwhile
    assert len(first) > 0
    assert read <= 2 * 2 * 10, f"{read} documents read to hand out the first batch"
    rest = list(stream)
    assert read == 1200 and len(rest) == 119


def test_parallel_encoding_passes_errors_on():
    tok = train_tokenizer(TEXTS[:50], "char", 300)

    def texts():
        yield from TEXTS[:40]
        raise RuntimeError("the hub went away")

    with pytest.raises(RuntimeError, match="hub went away"):
        list(encode_parallel(tok, texts(), workers=2, batch_docs=8))
    with pytest.raises(TypeError):  # a worker's error (not a string) reaches the caller
        list(encode_parallel(tok, [*TEXTS[:20], 17], workers=2, batch_docs=8))
    with pytest.raises(TypeError, match="not a string"):
        list(encode_parallel(tok, "a string", workers=2))


# The peak-memory probe runs in a fresh interpreter so that nothing else in the test session is traced.
_PEAK_PROBE = textwrap.dedent(
    """
    import json, shutil, sys, tracemalloc
    from pathlib import Path
    import numpy as np
    from repro.common.lm.shards import open_shards, write_shards

    out = Path(sys.argv[1])
    CHUNK, N_CHUNKS = 1 << 20, 40  # 40 chunks of 1M uint16 tokens: an 80 MiB corpus
    base = (np.arange(CHUNK) % 65536).astype(np.uint16)

    def chunks():
        for i in range(N_CHUNKS):
            yield base + np.uint16(i)  # a fresh 2 MiB array per chunk, as an encoder hands them out

    def peak(fn):
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    write_shards(out / "warm", chunks(), np.uint16, shard_tokens=8 << 20)  # imports and caches are not the writer's
    shutil.rmtree(out / "warm")
    result = {"streamed": peak(lambda: write_shards(out / "s", chunks(), np.uint16, shard_tokens=8 << 20))}
    tokens = open_shards(out / "s")
    probe = np.array([0, CHUNK - 1, 5 * CHUNK + 7, (8 << 20) - 1, 8 << 20, N_CHUNKS * CHUNK - 1])
    result["probe"] = tokens[probe].tolist()
    result["shards"] = [len(a) for a in tokens._arrays]
    shutil.rmtree(out / "s")
    # Control: the same measurement of a writer handed the corpus concatenated must see it.
    result["concatenated"] = peak(lambda: write_shards(out / "c", [np.concatenate(list(chunks()))], np.uint16))
    print(json.dumps(result))
    """
)


def test_writing_shards_holds_a_chunk_not_the_corpus(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_PROBE, str(tmp_path)], capture_output=True, text=True, check=True, timeout=120
    )
    result = json.loads(proc.stdout)
    chunk_bytes, corpus_bytes = (1 << 20) * 2, 40 * (1 << 20) * 2
    expect = lambda p: (p % (1 << 20) + p // (1 << 20)) % 65536  # the token at position p
    probe = [0, (1 << 20) - 1, 5 * (1 << 20) + 7, (8 << 20) - 1, 8 << 20, 40 * (1 << 20) - 1]
    assert result["probe"] == [expect(p) for p in probe]
    assert result["shards"] == [8 << 20] * 5
    # Bound: the writer holds one chunk at a time (it drops a chunk before asking the source for the next; this one
    # needs no dtype conversion), so its peak is one chunk (2 MiB) plus small Python objects (the index, file
    # handles, memory-map objects). The raw-to-.npy copy goes memory map to memory map (page cache, not the traced
    # heap), so it adds no buffer. The bound allows a second chunk and 1 MiB of objects as margin, 5 MiB: a writer
    # holding one shard (16 MiB) or the corpus (80 MiB, as the control does) fails it.
    bound = 2 * chunk_bytes + (1 << 20)
    assert result["streamed"] < bound, f"peak {result['streamed'] / 2**20:.1f} MiB, bound {bound / 2**20:.0f} MiB"
    assert result["concatenated"] > corpus_bytes  # the probe does see numpy's allocations


def test_a_failed_write_leaves_the_previous_directory(tmp_path):
    write_shards(tmp_path / "sh", iter(CHUNKS), np.uint16, shard_tokens=7)

    def broken():
        yield np.arange(30)
        raise RuntimeError("the hub went away")

    with pytest.raises(RuntimeError, match="hub went away"):
        write_shards(tmp_path / "sh", broken(), np.uint16, shard_tokens=7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sh"], "a failed write left files behind"
    assert np.array_equal(open_shards(tmp_path / "sh")[:], FLAT)

    empty = write_shards(tmp_path / "empty", iter([]), np.uint16)
    assert empty.files == () and len(open_shards(tmp_path / "empty")) == 0
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == [INDEX_FILE]


def test_ids_that_do_not_fit_the_dtype_are_refused(tmp_path):
    for bad, ids in (("1..65536", [1, 65536]), ("-1..3", [-1, 3])):
        with pytest.raises(ValueError, match=f"chunk at token 4: token ids {bad} do not fit uint16"):
            write_shards(tmp_path / "sh", [np.arange(4), np.array(ids)], np.uint16)
    with pytest.raises(TypeError, match="integers"):
        write_shards(tmp_path / "sh", [np.array([1.0, 2.0])], np.uint16)
    with pytest.raises(TypeError, match="integer dtype"):
        write_shards(tmp_path / "sh", [np.arange(3)], np.float32)
    assert not (tmp_path / "sh").exists()
    # Ids that fit are written whatever the chunk's dtype.
    write_shards(tmp_path / "ok", [np.array([0, 65535], dtype=np.int64)], np.uint16)
    assert open_shards(tmp_path / "ok")[:].tolist() == [0, 65535]


def test_a_missing_or_corrupt_file_names_itself(tmp_path):
    def fresh(name):
        write_shards(tmp_path / name, iter(CHUNKS), np.uint16, shard_tokens=64)
        return tmp_path / name

    d = fresh("missing_shard")
    (d / "shard-00001.npy").unlink()
    with pytest.raises(ValueError, match=r"shard-00001\.npy: not a readable token shard.*delete the directory"):
        load_tokens(d)

    d = fresh("truncated_shard")
    (d / "shard-00002.npy").write_bytes((d / "shard-00002.npy").read_bytes()[:20])
    with pytest.raises(ValueError, match=r"shard-00002\.npy: not a readable token shard.*rerun the rule"):
        open_shards(d)

    d = fresh("short_shard")
    np.save(d / "shard-00000.npy", FLAT[:10])
    with pytest.raises(ValueError, match=r"shard-00000\.npy: a uint16 array of shape \(10,\), but .* says 64 tokens"):
        open_shards(d)

    d = fresh("corrupt_index")
    (d / INDEX_FILE).write_text('{"format": 1, "dty')
    with pytest.raises(ValueError, match=r"index\.json: not a readable token shard index.*delete the directory"):
        load_tokens(d)

    d = fresh("inconsistent_index")
    index = json.loads((d / INDEX_FILE).read_text())
    index["total_tokens"] += 1
    (d / INDEX_FILE).write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"index\.json: not a valid token shard index \(total_tokens 151"):
        open_shards(d)

    d = fresh("escaping_index")
    index = json.loads((d / INDEX_FILE).read_text())
    index["shards"][0]["file"] = "../flat.npy"
    (d / INDEX_FILE).write_text(json.dumps(index))
    with pytest.raises(ValueError, match="bad shard file names"):
        open_shards(d)

    d = fresh("no_index")
    (d / INDEX_FILE).unlink()
    with pytest.raises(ValueError, match=r"index\.json: not a readable token shard index"):
        load_tokens(d)


UNGUARDED_MAIN = """
# A main script without an `if __name__ == "__main__"` guard, as Snakemake runs a rule's script: the spawned workers
# must not run it again (each would rerun the step and spawn workers of its own).
import sys
print("main ran", flush=True)
from repro.common.lm.shards import encode_parallel
from repro.common.lm.tokenizer import train_tokenizer
tok = train_tokenizer(["abc def"] * 10, kind="char")
out = list(encode_parallel(tok, ["abc"] * 40, workers=2, batch_docs=4))
print("arrays", len(out), flush=True)
"""


def test_workers_do_not_rerun_an_unguarded_main_script(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "step.py"
    script.write_text(UNGUARDED_MAIN)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["main ran", "arrays 10"], proc.stdout
