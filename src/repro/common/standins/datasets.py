"""Local stand-ins for Hugging Face hub datasets, with the real datasets' schemas (issue 28, ``paper_toy``).

At the rehearsal scale a hub dataset id such as ``monology/pile-uncopyrighted`` is replaced by a local folder that
the paper code's own call, e.g. ``datasets.load_dataset(path, split="train", streaming=True)``, reads unchanged
(and also without ``streaming``). Each folder is laid out like a hub dataset repo:

```
<out_dir>/
  README.md                          # dataset card: YAML `configs` (split -> data files) and `dataset_info.features`
  data/train-00000-of-00001.jsonl    # one JSON object per line, keys in schema order
  data/validation-00000-of-00001.jsonl
  data/test-00000-of-00001.jsonl
```

The ``data/<split>-NNNNN-of-NNNNN.*`` names alone let ``datasets`` infer the splits (its sharded-split pattern,
which accepts any split name); the card's ``configs`` block states the same mapping explicitly, as converted hub
repos do, so loading does not rest on that heuristic, and its ``dataset_info.features`` fixes the dtypes (e.g.
``int32``) that inference from JSON would widen (to ``int64``). :func:`build_rows_dataset` is the one writer; each
stand-in (:func:`build_pile`; later RedPajama-V2 samples, QuALITY, ...) is a small function on top of it.

Writes are atomic (built in a temporary sibling folder and renamed into place). ``datasets`` and ``yaml`` are
imported inside the functions: the workflow imports this module at parse time, which must stay fast.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from repro.common.io import atomic_dir

#: Split names ``datasets`` accepts (``datasets.splits``: word characters, dot-separated).
_SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
#: The schema of ``monology/pile-uncopyrighted`` (and of the original Pile's jsonl.zst shards).
PILE_FEATURES: dict[str, Any] = {"text": "string", "meta": {"pile_set_name": "string"}}


def _data_file(split: str) -> str:
    """Path of a split's single shard, in the hub's ``<split>-00000-of-00001`` naming."""
    return f"data/{split}-00000-of-00001.jsonl"


def _features(spec: Mapping[str, Any]) -> Any:
    """A ``datasets.Features`` from a compact spec.

    Each value is a ``datasets.Value`` dtype name (``"string"``, ``"int64"``, ``"float32"``, ``"bool"``, ...), a
    nested mapping (a struct, like the Pile's ``meta``) or a one-element list (a list of that type).
    """
    import datasets

    def convert(value: Any, where: str) -> Any:
        if isinstance(value, str):
            try:
                return datasets.Value(value)
            except ValueError as exc:
                raise ValueError(f"features[{where}]: {exc}") from None
        if isinstance(value, Mapping):
            return {key: convert(sub, f"{where}.{key}") for key, sub in value.items()}
        if isinstance(value, list) and len(value) == 1:
            return datasets.List(convert(value[0], f"{where}[]"))
        if isinstance(value, datasets.Value | datasets.List | datasets.ClassLabel):
            return value  # already a datasets feature type
        raise TypeError(f"features[{where}]: expected a dtype name, a mapping or a one-element list, got {value!r}")

    if isinstance(spec, datasets.Features):
        return spec
    return datasets.Features({key: convert(value, key) for key, value in spec.items()})


def _check_rows(rows_by_split: Mapping[str, Sequence[Mapping[str, Any]]], columns: list[str] | None) -> list[str]:
    """Check split names and that every row has the same keys (``columns`` if given); return the column order.

    A real hub dataset has one schema; a stray or missing key would load as a silently added null column.
    """
    if not rows_by_split:
        raise ValueError("rows_by_split is empty: a dataset needs at least one split")
    for split, rows in rows_by_split.items():
        if not _SPLIT_NAME.match(split):
            raise ValueError(f"split name {split!r} is not valid for datasets (letters, digits, _, dots)")
        if not rows:
            # `load_dataset(..., split=split)` without streaming fails on an empty split ("corresponds to no data").
            raise ValueError(f"split {split!r} has no rows")
        if columns is None:
            columns = list(rows[0])
        for i, row in enumerate(rows):
            if set(row) != set(columns):
                raise ValueError(f"split {split!r} row {i}: keys {sorted(row)} differ from the schema's {columns}")
    assert columns is not None
    return columns


def build_rows_dataset(
    rows_by_split: Mapping[str, Sequence[Mapping[str, Any]]],
    out_dir: Path,
    *,
    features: Mapping[str, Any] | None = None,
    description: str = "",
) -> dict[str, int]:
    """Write ``rows_by_split`` as a hub-like JSON Lines dataset at ``out_dir``; return the row count per split.

    ``datasets.load_dataset(str(out_dir), split=<split>)`` (streaming or not) yields the rows back. ``features``
    (see :func:`_features`; a ``datasets.Features`` also works) is written into the card so they load with those
    dtypes; without it, ``datasets`` infers them from the JSON. Every row must have the same keys (the schema's);
    columns are written in schema order. ``description`` becomes the card's body text. Deterministic: the same
    rows give byte-identical files.
    """
    import yaml

    schema = _features(features) if features is not None else None
    columns = _check_rows(rows_by_split, list(schema) if schema is not None else None)
    card: dict[str, Any] = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": _data_file(split)} for split in rows_by_split],
            }
        ]
    }
    if schema is not None:
        # The hub's own YAML form of a schema (what `datasets` writes into dataset cards); split sizes are left out
        # because the card format then also demands Arrow byte counts.
        card["dataset_info"] = {"features": schema._to_yaml_list()}
    body = description.strip() or "A local stand-in dataset built by repro.common.standins.datasets."

    counts: dict[str, int] = {}
    with atomic_dir(out_dir) as tmp:
        (tmp / "data").mkdir()
        for split, rows in rows_by_split.items():
            with open(tmp / _data_file(split), "w", encoding="utf-8", newline="\n") as fh:
                fh.writelines(json.dumps({key: row[key] for key in columns}, ensure_ascii=False) + "\n" for row in rows)
            counts[split] = len(rows)
        front = yaml.safe_dump(card, sort_keys=False, allow_unicode=True)
        (tmp / "README.md").write_text(f"---\n{front}---\n\n{body}\n", encoding="utf-8")
    return counts


def _split_sizes(n: int, validation_frac: float, test_frac: float) -> tuple[int, int]:
    """Validation and test sizes: rounded fractions of ``n``, at least one document each when the fraction is > 0."""
    if not (0 <= validation_frac < 1 and 0 <= test_frac < 1 and validation_frac + test_frac < 1):
        raise ValueError(f"validation_frac={validation_frac} and test_frac={test_frac} must be in [0, 1), sum < 1")
    n_val = max(1, round(n * validation_frac)) if validation_frac > 0 else 0
    n_test = max(1, round(n * test_frac)) if test_frac > 0 else 0
    if n - n_val - n_test < 1:
        raise ValueError(f"{n} documents are too few for a train split next to {n_val} validation + {n_test} test")
    return n_val, n_test


def build_pile(
    docs: Sequence[tuple[str, str]],
    out_dir: Path,
    *,
    validation_frac: float = 0.1,
    test_frac: float = 0.1,
    seed: int = 0,
) -> dict[str, int]:
    """A stand-in for ``monology/pile-uncopyrighted`` from caller-given ``(pile_set_name, text)`` documents.

    Rows are ``{"text": str, "meta": {"pile_set_name": str}}`` in splits ``train``, ``validation`` and ``test``
    (a split whose fraction is 0 is left out). The split is by document: documents are ranked by a sha256 of
    ``seed`` and their text, the first ``validation_frac`` of the ranking is validation, the next ``test_frac``
    test, the rest train (each non-empty), so duplicate texts always land in the same split and the result does
    not depend on the order of ``docs``. Within a split, documents keep the caller's order. Returns the row count
    per split.
    """
    for i, doc in enumerate(docs):
        if not (isinstance(doc, tuple | list) and len(doc) == 2 and all(isinstance(part, str) for part in doc)):
            raise TypeError(f"docs[{i}] must be a (pile_set_name, text) pair of strings, got {doc!r:.80}")
    n_val, n_test = _split_sizes(len(docs), validation_frac, test_frac)

    def rank_key(i: int) -> tuple[str, str, str]:
        name, text = docs[i]
        digest = hashlib.sha256(f"{seed}\0{text}".encode()).hexdigest()
        return digest, text, name  # ties (identical texts) broken by content, never by position

    ranked = sorted(range(len(docs)), key=rank_key)
    split_of = {i: "validation" for i in ranked[:n_val]}
    split_of |= {i: "test" for i in ranked[n_val : n_val + n_test]}
    rows: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
    for i, (name, text) in enumerate(docs):
        rows[split_of.get(i, "train")].append({"text": text, "meta": {"pile_set_name": name}})
    return build_rows_dataset(
        {split: split_rows for split, split_rows in rows.items() if split_rows},
        out_dir,
        features=PILE_FEATURES,
        description="Local stand-in for `monology/pile-uncopyrighted` (same schema and splits; other documents).",
    )
