"""Token shards: a paper-scale corpus from ``datasets`` to disk without ever holding it (issue 29, item 3).

Issue 29, item 3: "Data from `datasets` to disk: streamed, tokenised in parallel, written to token shards (numpy
memmap), packed, sampled deterministically per rank; the corpus never lives in a Python list."

The pieces, in pipeline order::

    texts = hub_texts(dataset, split, field, max_documents)          # streamed (repro.common.lm.hub)
    chunks = encode_parallel(tok, texts, workers=8)                   # tokenised in parallel, packed with EOS
    write_shards(out_dir, chunks, tok.token_dtype)                    # shard-00000.npy, ... + index.json
    tokens = load_tokens(out_dir)                                     # a TokenShards: one flat read-only array
    train(model, tokens, cfg)                                         # sampled per (seed, step), sharded per rank

* :func:`encode_parallel` gives the arrays of :func:`repro.common.lm.tokenizer.encode_document_stream` (one per
  batch of documents, each document followed by EOS: packing), in the same order and with the same bytes, encoding
  the batches in a pool of worker processes with a bounded number of batches in flight.
* :func:`write_shards` writes the stream as ``.npy`` shards of at most ``shard_tokens`` tokens plus ``index.json``,
  atomically (the whole directory or nothing) and holding one chunk at a time.
* :class:`TokenShards` (:func:`open_shards`, or :func:`repro.common.lm.trainer.load_tokens` on the directory) memory-
  maps the shards and indexes them like one flat 1-D array (``len``, integer, slice and integer-array indexing), so
  the trainer's window sampler, the evaluators' strided windows and the unigram counts read it unchanged.

Sampling needs nothing new: the trainer draws each global micro-batch from ``(seed, step, micro)`` and gives every
rank its block of rows (:mod:`repro.common.lm.distributed`), so each rank's windows are deterministic and the data
order does not depend on the number of ranks or on where a run resumed.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import multiprocessing
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repro.common.io import atomic_dir, read_json, write_json
from repro.common.lm.tokenizer import encode_document_stream

INDEX_FILE = "index.json"
#: Version of the ``index.json`` layout; a reader refuses any other.
FORMAT_VERSION = 1
#: Default tokens per shard: 2**28 (512 MiB of uint16, 1 GiB of uint32) keeps the number of files (and of open
#: memory maps, one file descriptor each) in the hundreds for a corpus of a few hundred billion tokens.
DEFAULT_SHARD_TOKENS = 1 << 28
#: Tokens copied at a time from a raw stream into its ``.npy`` (memory map to memory map: page cache, no heap).
COPY_CHUNK = 1 << 24
_SHARD_NAME = "shard-{:05d}.npy"
_SHARD_RE = re.compile(r"shard-\d{5,}\.npy")
_RERUN = "delete the directory and rerun the rule that writes it"


# ---------------------------------------------------------------------------------------
# Parallel encoding


def encode_parallel(
    tokenizer: Any, texts: Iterable[str], *, workers: int = 1, batch_docs: int = 256, eos_between: bool = True
) -> Iterator[np.ndarray]:
    """:func:`~repro.common.lm.tokenizer.encode_document_stream` of ``texts`` with the batches encoded by ``workers``
    processes: the same arrays (one per ``batch_docs`` documents, EOS after each document when ``eos_between``), in
    the same order, byte for byte.

    ``tokenizer`` is anything with that function's interface (``encode_batch``, ``eos_id``, ``token_dtype``: the
    offline :class:`~repro.common.lm.tokenizer.Tokenizer` or a :class:`~repro.common.lm.hub.HubTokenizer`); with
    ``workers > 1`` it must pickle, and it is sent once to each worker (the pool initializer), not with each batch.

    The workers are *spawned* (fresh interpreters), not forked: a fork copies the parent's locks in whatever state
    its threads left them (torch's OpenMP pool, the Rust thread pool of ``tokenizers``, which disables itself with a
    warning in a forked child for that reason), and can deadlock. ``forkserver`` would avoid that too, but it is
    POSIX-only, and spawn behaves the same on every platform; its cost, one interpreter start and the tokenizer's
    imports per worker, is paid once per call, small beside a corpus worth encoding in parallel. Each worker encodes
    on one thread (``TOKENIZERS_PARALLELISM=false``), so ``workers`` is the number of cores used.

    At most ``2 * workers`` batches are in flight: the next batch is read from ``texts`` only when the oldest
    result has been handed out, so a fast reader never queues the corpus in memory. (``Pool.imap`` alone would not
    do: its feeder thread drains the whole input iterator into the task queue as fast as it can read it.)
    """
    if isinstance(texts, str):  # a bare string would be encoded character by character: almost certainly a bug
        raise TypeError("texts must be an iterable of strings, not a string")
    if workers < 1 or batch_docs < 1:
        raise ValueError(f"workers and batch_docs must be positive, got workers={workers}, batch_docs={batch_docs}")
    if workers == 1:
        yield from encode_document_stream(tokenizer, texts, eos_between=eos_between, batch_docs=batch_docs)
        return
    ctx = multiprocessing.get_context("spawn")
    # The with-block terminates the pool on every exit: the end, an error in the reader or a worker, or a consumer
    # that stops early (GeneratorExit at the yield).
    with _main_not_rerun():
        pool = ctx.Pool(workers, initializer=_init_worker, initargs=(tokenizer, eos_between))
    with pool:
        pending: collections.deque[Any] = collections.deque()
        for batch in _batches(texts, batch_docs):
            pending.append(pool.apply_async(_encode_batch, (batch,)))
            del batch  # the pool holds the pickled batch; keep no second reference to it here
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Start spawned workers without running the parent's main script again. A spawned child prepares itself by
    executing the parent's ``__main__`` file as ``__mp_main__`` when that module has a file but no import name: a
    Snakemake ``script:`` job is such a file, unguarded, so each worker would rerun the whole step (and spawn workers
    of its own). The workers need only this module, which they import by name; so while the pool starts, the main
    module's ``__file__`` is hidden (a main module run by name, ``python -m``, is imported by name and left alone)."""
    main = sys.modules.get("__main__")
    hidden = None
    if main is not None and getattr(main, "__spec__", None) is None:
        hidden = main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        if hidden is not None:
            main.__file__ = hidden  # type: ignore[union-attr]


def _batches(texts: Iterable[str], batch_docs: int) -> Iterator[list[str]]:
    it = iter(texts)
    while batch := list(itertools.islice(it, batch_docs)):
        yield batch


_worker_tokenizer: Any = None
_worker_eos_between = True


def _init_worker(tokenizer: Any, eos_between: bool) -> None:
    global _worker_tokenizer, _worker_eos_between
    # One thread per worker: the pool is the parallelism; Rust threads on top would oversubscribe the cores.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_tokenizer, _worker_eos_between = tokenizer, eos_between


def _encode_batch(batch: list[str]) -> np.ndarray:
    # One batch through encode_document_stream itself, so the bytes are those of the single-process path.
    return next(
        encode_document_stream(_worker_tokenizer, batch, eos_between=_worker_eos_between, batch_docs=len(batch))
    )


# ---------------------------------------------------------------------------------------
# Writing


@dataclass(frozen=True)
class ShardIndex:
    """Contents of ``index.json``: the token dtype, the shard files in order and their token counts."""

    dtype: str
    files: tuple[str, ...]
    counts: tuple[int, ...]
    shard_tokens: int

    @property
    def total_tokens(self) -> int:
        return sum(self.counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "dtype": self.dtype,
            "total_tokens": self.total_tokens,
            "shard_tokens": self.shard_tokens,
            "shards": [{"file": f, "tokens": n} for f, n in zip(self.files, self.counts, strict=True)],
        }

    @classmethod
    def from_json(cls, d: Any, where: str | os.PathLike[str]) -> ShardIndex:
        """Parse and check ``d`` (read from ``where``); anything inconsistent is a ValueError naming ``where``."""
        try:
            if d["format"] != FORMAT_VERSION:
                raise ValueError(f"format {d['format']!r}, this reader knows {FORMAT_VERSION}")
            dtype = np.dtype(d["dtype"])
            if dtype.kind not in "iu":
                raise ValueError(f"dtype {dtype} is not an integer type")
            files = tuple(str(s["file"]) for s in d["shards"])
            counts = tuple(s["tokens"] for s in d["shards"])
            # Names only, in the writer's pattern: an index must not point outside its directory.
            if not all(_SHARD_RE.fullmatch(f) for f in files) or len(set(files)) != len(files):
                raise ValueError(f"bad shard file names {list(files)}")
            if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
                raise ValueError(f"bad shard token counts {list(counts)}")
            if d["total_tokens"] != sum(counts):
                raise ValueError(f"total_tokens {d['total_tokens']} != the sum of the shards' counts {sum(counts)}")
            index = cls(dtype.name, files, counts, int(d["shard_tokens"]))
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{where}: not a valid token shard index ({detail}); {_RERUN}") from exc
        return index


def raw_to_npy(raw: str | os.PathLike[str], path: str | os.PathLike[str], dtype: np.dtype, n: int) -> None:
    """Write the ``n`` tokens of ``dtype`` in the headerless file ``raw`` as a new ``.npy`` at ``path``.

    The copy goes memory map to memory map, :data:`COPY_CHUNK` tokens at a time, so it holds no buffer on the heap
    whatever ``n`` is. (Shared by :func:`write_shards` and :func:`repro.common.lm.trainer.save_token_stream`.)
    """
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n,))
    if n:
        src = np.memmap(raw, dtype=dtype, mode="r", shape=(n,))
        for start in range(0, n, COPY_CHUNK):
            out[start : start + COPY_CHUNK] = src[start : start + COPY_CHUNK]
        del src
    out.flush()
    del out


def write_shards(
    directory: str | os.PathLike[str],
    chunks: Iterable[np.ndarray],
    dtype: Any,
    *,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
) -> ShardIndex:
    """Write the concatenation of ``chunks`` to ``directory`` as ``shard-00000.npy``, ``shard-00001.npy``, ... of
    ``shard_tokens`` tokens each (the last one shorter; no shard for an empty stream) and ``index.json``.

    The directory appears whole or not at all (:func:`repro.common.io.atomic_dir`: an interrupted or failed write
    leaves any previous directory in place). Memory is one chunk (plus its conversion to ``dtype`` when it has
    another dtype): each chunk is appended to a raw file as it comes, and a full shard is converted to ``.npy``
    through memory maps. A chunk holding an id that ``dtype`` cannot represent is refused (ValueError) rather than
    wrapped around silently. Returns the index written.
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"token shards need an integer dtype, not {dtype}")
    if shard_tokens < 1:
        raise ValueError(f"shard_tokens must be positive, got {shard_tokens}")
    files: list[str] = []
    counts: list[int] = []
    with atomic_dir(directory) as tmp:
        raw = tmp / "shard.raw.tmp"

        def close_shard(n: int) -> None:
            name = _SHARD_NAME.format(len(files))
            raw_to_npy(raw, tmp / name, dtype, n)
            raw.unlink()
            files.append(name)
            counts.append(n)

        blocks = _token_blocks(chunks, dtype)
        block, pos = next(blocks, None), 0
        while block is not None:  # one shard per pass
            filled = 0
            with open(raw, "wb") as fh:
                while block is not None and filled < shard_tokens:
                    take = min(len(block) - pos, shard_tokens - filled)
                    fh.write(memoryview(block[pos : pos + take]))  # a view: no bytes copy of the chunk
                    pos, filled = pos + take, filled + take
                    if pos == len(block):
                        block = None  # drop this chunk before the source builds the next one
                        block, pos = next(blocks, None), 0
            close_shard(filled)
        index = ShardIndex(dtype.name, tuple(files), tuple(counts), shard_tokens)
        write_json(tmp / INDEX_FILE, index.to_json())
    return index


def _token_blocks(chunks: Iterable[np.ndarray], dtype: np.dtype) -> Iterator[np.ndarray]:
    """The non-empty ``chunks`` as contiguous 1-D arrays of ``dtype``, holding no reference to a chunk already
    handed out while the source builds the next (so one chunk is alive at a time, not two)."""
    start = 0  # tokens before this chunk: names a refused chunk
    for chunk in chunks:
        block = _as_tokens(chunk, dtype, start)
        del chunk
        if len(block):
            start += len(block)
            yield block
        del block


def _as_tokens(chunk: np.ndarray, dtype: np.dtype, start: int) -> np.ndarray:
    """``chunk`` as a contiguous 1-D array of ``dtype``, refusing ids that would wrap around."""
    chunk = np.asarray(chunk)
    if chunk.dtype.kind not in "iu":
        raise TypeError(f"the chunk at token {start}: token ids must be integers, got dtype {chunk.dtype}")
    if chunk.size and not np.can_cast(chunk.dtype, dtype, "safe"):
        info = np.iinfo(dtype)
        lo, hi = int(chunk.min()), int(chunk.max())
        if lo < info.min or hi > info.max:
            raise ValueError(
                f"the chunk at token {start}: token ids {lo}..{hi} do not fit {dtype} ({info.min}..{info.max}); "
                "write with a wider dtype (the tokenizer's token_dtype)"
            )
    return np.ascontiguousarray(chunk.reshape(-1), dtype=dtype)


# ---------------------------------------------------------------------------------------
# Reading


class TokenShards:
    """The shards of a directory written by :func:`write_shards`, read-only memory maps indexed as one flat 1-D
    token array: ``len``, ``dtype``, ``shape``, an integer (a numpy scalar), a slice (a view when it lies in one
    shard, a copy when it crosses shards; any step), an integer array of any shape (vectorised over the shards; an
    array of the same shape). Out-of-range indices raise IndexError. ``min()``/``max()`` reduce shard by shard.

    ``np.asarray(shards)`` works (``__array__``) but copies the whole corpus into memory: the last resort of code
    that needs a real ndarray, never for a paper-scale corpus.

    Each open shard holds one file descriptor (its memory map), so a corpus of more shards than the process's open
    file limit (``ulimit -n``) needs a larger ``shard_tokens`` or limit.
    """

    def __init__(self, directory: Path, index: ShardIndex, arrays: list[np.ndarray]) -> None:
        self.directory, self.index, self._arrays = directory, index, arrays
        self._starts = np.concatenate([[0], np.cumsum(index.counts, dtype=np.int64)]).astype(np.int64)
        self._n = int(self._starts[-1])
        self._dtype = np.dtype(index.dtype)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def shape(self) -> tuple[int]:
        return (self._n,)

    @property
    def ndim(self) -> int:
        return 1

    @property
    def size(self) -> int:
        return self._n

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"TokenShards({str(self.directory)!r}, tokens={self._n}, shards={len(self._arrays)}, dtype={self.dtype})"

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            i = int(key)
            if not -self._n <= i < self._n:
                raise IndexError(f"index {i} is out of range for {self._n} tokens")
            i += self._n if i < 0 else 0
            s = int(np.searchsorted(self._starts, i, side="right")) - 1
            return self._arrays[s][i - self._starts[s]]
        if isinstance(key, slice):
            start, stop, step = key.indices(self._n)
            return self._range(start, stop) if step == 1 else self._take(np.arange(start, stop, step))
        if isinstance(key, tuple):
            raise TypeError("TokenShards is 1-D: index it with one integer, slice or integer array")
        idx = np.asarray(key)
        if idx.dtype.kind not in "iu" and idx.size:
            raise IndexError(f"TokenShards takes integer indices, not an array of {idx.dtype}")
        return self._take(idx)

    def _range(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return np.empty(0, dtype=self.dtype)
        first, last = np.searchsorted(self._starts, [start, stop - 1], side="right") - 1
        if first == last:  # the common case (windows are short, shards long): a view, no copy
            return self._arrays[first][start - self._starts[first] : stop - self._starts[first]]
        parts = [
            self._arrays[s][
                max(start, self._starts[s]) - self._starts[s] : min(stop, self._starts[s + 1]) - self._starts[s]
            ]
            for s in range(first, last + 1)
        ]
        return np.concatenate(parts)

    def _take(self, idx: np.ndarray) -> np.ndarray:
        flat = idx.reshape(-1).astype(np.int64, copy=False)
        out = np.empty(flat.shape, dtype=self.dtype)
        if not flat.size:
            return out.reshape(idx.shape)
        lo, hi = int(flat.min()), int(flat.max())
        if lo < -self._n or hi >= self._n:
            raise IndexError(f"index {lo if lo < -self._n else hi} is out of range for {self._n} tokens")
        if lo < 0:
            flat = np.where(flat < 0, flat + self._n, flat)
        shard = np.searchsorted(self._starts, flat, side="right") - 1
        if shard[0] == shard.min() == shard.max():  # all in one shard: one gather
            s = int(shard[0])
            out[:] = self._arrays[s][flat - self._starts[s]]
        else:  # group the positions by shard (a stable sort), one gather per shard touched
            order = np.argsort(shard, kind="stable")
            cuts = np.flatnonzero(np.diff(shard[order])) + 1
            for group in np.split(order, cuts):
                s = int(shard[group[0]])
                out[group] = self._arrays[s][flat[group] - self._starts[s]]
        return out.reshape(idx.shape)

    def min(self) -> np.generic:
        return self._reduce(np.min)

    def max(self) -> np.generic:
        return self._reduce(np.max)

    def _reduce(self, fn: Any) -> np.generic:
        if not self._n:
            raise ValueError(f"{fn.__name__} of an empty token corpus ({self.directory})")
        return fn([fn(a) for a in self._arrays if len(a)]).astype(self.dtype)[()]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # The corpus, copied into memory: only for code that needs a real ndarray (see the class docstring).
        if copy is False:
            raise ValueError("TokenShards cannot be viewed as one ndarray without a copy")
        whole = np.concatenate(self._arrays) if self._arrays else np.empty(0, dtype=self.dtype)
        return whole if dtype is None else whole.astype(dtype, copy=False)


def open_shards(directory: str | os.PathLike[str]) -> TokenShards:
    """Memory-map the token shards in ``directory`` (written by :func:`write_shards`).

    A missing or malformed ``index.json``, or a shard that is missing, unreadable or disagrees with the index
    (dtype, length), is a ValueError naming the file: delete the directory and rerun the rule that writes it.
    """
    directory = Path(directory)
    index_path = directory / INDEX_FILE
    try:
        raw_index = read_json(index_path)
    except (OSError, ValueError) as exc:  # missing, unreadable, or not JSON (JSONDecodeError is a ValueError)
        raise ValueError(f"{index_path}: not a readable token shard index ({exc}); {_RERUN}") from exc
    index = ShardIndex.from_json(raw_index, index_path)
    arrays = []
    for name, n in zip(index.files, index.counts, strict=True):
        path = directory / name
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:  # missing, or numpy's errors for a truncated/corrupt .npy
            raise ValueError(f"{path}: not a readable token shard ({exc}); {_RERUN}") from exc
        if arr.ndim != 1 or arr.dtype != np.dtype(index.dtype) or len(arr) != n:
            raise ValueError(
                f"{path}: a {arr.dtype} array of shape {arr.shape}, but {index_path} says {n} tokens of "
                f"{index.dtype}; {_RERUN}"
            )
        arrays.append(arr)
    return TokenShards(directory, index, arrays)


__all__ = [
    "COPY_CHUNK",
    "DEFAULT_SHARD_TOKENS",
    "FORMAT_VERSION",
    "INDEX_FILE",
    "ShardIndex",
    "TokenShards",
    "encode_parallel",
    "open_shards",
    "raw_to_npy",
    "write_shards",
]
