"""Hugging Face-format stand-ins (issue 28, ``paper_toy``): tiny checkpoints, tokenizers and hub-like datasets.

The paper code loads these folders with its own calls (``AutoTokenizer`` / ``AutoModelForCausalLM.from_pretrained``,
``datasets.load_dataset(path, split=..., streaming=True)``), so the tests make exactly those calls, offline.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path

import pytest

from repro.common.standins import datasets as ds_standins
from repro.common.standins import hf

TEXTS = [
    (
        "The river ran past the old mill, where the miller's children played on the stones every summer. "
        "Nobody remembered when the wheel had last turned, but the water still sang against its broken paddles."
    ),
    (
        "In the town, the market opened at dawn. Farmers brought apples, cheese and bread; the baker sold rolls "
        "still warm from the oven, and the smell of coffee drifted from the cafe on the corner of the square."
    ),
    (
        "A language model assigns a probability to every sequence of tokens. Training minimises the cross-entropy "
        "of the next token given the previous ones, and the loss is reported in nats or in bits per byte."
    ),
    (
        "She wrote the numbers down carefully: 3.14159, 2.71828, 1.41421. Then she checked them twice, because "
        "a single wrong digit would spoil the whole table, and the printer would not wait another week."
    ),
    (
        "Winter came early that year. Snow covered the hills by the first of November, the roads were closed, "
        "and the village lived on what it had stored in its cellars: potatoes, onions, smoked ham and cider."
    ),
]
#: Characters the training text never shows: byte-level BPE and Llama's byte fallback must still round-trip them.
UNSEEN = "Grüße — 日本語 naïve\ttab  two spaces\n"
SIZES = {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 64, "max_position": 128}
VOCAB = 400


def _expected_ids(family: str, n_vocab: int) -> dict[str, int | None]:
    """The special-token ids of the real family's tokenizer (GPT-2's <|endoftext|> is the last id)."""
    return {
        "llama": {"unk": 0, "bos": 1, "eos": 2, "pad": None},
        "gpt_neox": {"unk": 0, "bos": 0, "eos": 0, "pad": 1},
        "gpt2": {"unk": n_vocab - 1, "bos": n_vocab - 1, "eos": n_vocab - 1, "pad": None},
    }[family]


def _build(root: Path, family: str, *, seed: int = 0) -> tuple[Path, dict]:
    hf.build_tokenizer(TEXTS, family, VOCAB, root / "tokenizer")
    info = hf.build_checkpoint(family, root / "model", tokenizer_dir=root / "tokenizer", seed=seed, **SIZES)
    return root / "model", info


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """One tokenizer + checkpoint per family, shared by the loading tests."""
    return {family: _build(tmp_path_factory.mktemp(family), family) for family in hf.FAMILIES}


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------
# Checkpoints and tokenizers


@pytest.mark.parametrize("family", sorted(hf.FAMILIES))
def test_checkpoint_loads_offline_and_runs(repos, offline, family):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir, info = repos[family]
    fam = hf.FAMILIES[family]
    files = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= files
    assert "tokenizer_config.json" in files and not any(name.endswith(".bin") for name in files)

    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    assert type(model).__name__ == fam.architecture
    assert type(tok).__name__ == fam.tokenizer_class  # the real repo's class, so the real pipeline
    assert info == {"family": family, "n_params": sum(p.numel() for p in model.parameters()), "vocab_size": len(tok)}
    assert 300 <= len(tok) <= VOCAB  # merges stop at pairs seen once, so the vocabulary may end short

    want = _expected_ids(family, len(tok))
    got = {"unk": tok.unk_token_id, "bos": tok.bos_token_id, "eos": tok.eos_token_id, "pad": tok.pad_token_id}
    assert got == want
    assert (tok.bos_token, tok.eos_token) == (fam.bos, fam.eos)
    for cfg in (model.config, model.generation_config):
        assert (cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id) == (want["bos"], want["eos"], want["pad"])
    assert model.config.vocab_size == len(tok)
    if family == "gpt_neox":
        assert tok.convert_ids_to_tokens(1) == "<|padding|>"

    ids = tok(UNSEEN).input_ids
    assert (ids[0] == want["bos"]) is fam.add_bos_token  # Llama-2 prepends <s>; GPT-2 and Pythia add nothing
    assert tok.decode(ids, skip_special_tokens=True) == UNSEEN  # every string encodes, losslessly

    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # what paper code does for Llama-2 and GPT-2
    batch = tok([TEXTS[0], "a short one"], return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        out = model(**batch, labels=labels)
    assert out.logits.shape == (*batch["input_ids"].shape, len(tok))
    assert math.isfinite(out.loss.item()) and out.loss.item() > 0
    prompt = tok("The river", return_tensors="pt")
    gen = model.generate(**prompt, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert 1 <= gen.shape[1] - prompt["input_ids"].shape[1] <= 3


def test_llama_chat_template(repos, offline):
    from jinja2 import TemplateError
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(repos["llama"][0], local_files_only=True)
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a river."},
        {"role": "assistant", "content": "The Thames."},
        {"role": "user", "content": "Another?"},
    ]
    text = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nName a river. [/INST] The Thames. </s><s>[INST] Another? [/INST]"
    )
    ids = tok.apply_chat_template(chat[1:2], tokenize=True, add_generation_prompt=True)["input_ids"]
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1  # <s> from the template, not doubled
    with pytest.raises(TemplateError, match="alternate"):
        tok.apply_chat_template([{"role": "assistant", "content": "hi"}], tokenize=False)
    for family in ("gpt2", "gpt_neox"):  # base models: no template, as on the hub
        assert AutoTokenizer.from_pretrained(repos[family][0], local_files_only=True).chat_template is None


@pytest.mark.parametrize("family", sorted(hf.FAMILIES))
def test_builds_are_byte_identical(tmp_path, family):
    first, _ = _build(tmp_path / "a", family)
    second, _ = _build(tmp_path / "b", family)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert {name: _sha(first / name) for name in names} == {name: _sha(second / name) for name in names}
    other_seed, _ = _build(tmp_path / "c", family, seed=1)
    assert _sha(other_seed / "model.safetensors") != _sha(first / "model.safetensors")
    assert _sha(other_seed / "tokenizer.json") == _sha(first / "tokenizer.json")


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"unknown model family 'mistral'.*gpt2"):
        hf.build_tokenizer(TEXTS, "mistral", VOCAB, tmp_path / "t")
    with pytest.raises(ValueError, match="too small"):
        hf.build_tokenizer(TEXTS, "llama", 200, tmp_path / "t")  # 3 specials + 256 byte tokens do not fit
    with pytest.raises(TypeError):
        hf.build_tokenizer(TEXTS[0], "gpt2", VOCAB, tmp_path / "t")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="build_tokenizer"):
        hf.build_checkpoint("gpt2", tmp_path / "m", tokenizer_dir=tmp_path / "nowhere")
    assert not any(tmp_path.iterdir())


def test_killed_checkpoint_build_leaves_nothing(tmp_path, monkeypatch):
    hf.build_tokenizer(TEXTS, "gpt2", VOCAB, tmp_path / "tokenizer")

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # as if the job were interrupted after the weights were written

    monkeypatch.setattr(hf, "_copy_tokenizer_files", killed)
    with pytest.raises(KeyboardInterrupt):
        hf.build_checkpoint("gpt2", tmp_path / "model", tokenizer_dir=tmp_path / "tokenizer", **SIZES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer"]  # no model/, no temporary folder


def test_vit_state_dict_has_timm_layout(tmp_path):
    from safetensors import safe_open

    info = hf.build_vit_state_dict(tmp_path / "vit.safetensors", img_size=32, patch_size=16, embed_dim=16, depth=2)
    with safe_open(tmp_path / "vit.safetensors", framework="pt") as fh:
        shapes = {key: tuple(fh.get_slice(key).get_shape()) for key in fh.keys()}  # noqa: SIM118
        assert fh.metadata() == {"format": "pt"}
    assert shapes["cls_token"] == (1, 1, 16)
    assert shapes["pos_embed"] == (1, 5, 16)  # 2x2 patches + the class token
    assert shapes["patch_embed.proj.weight"] == (16, 3, 16, 16)
    assert shapes["blocks.1.attn.qkv.weight"] == (48, 16)
    assert shapes["blocks.1.mlp.fc1.weight"] == (64, 16) and shapes["blocks.1.mlp.fc2.weight"] == (16, 64)
    assert shapes["head.weight"] == (10, 16) and shapes["norm.weight"] == (16,)
    assert not any(key.startswith("blocks.2.") for key in shapes)
    assert len(shapes) == 4 + 2 * 12 + 4 and sorted(info["keys"]) == sorted(shapes)
    assert info["variant"] == "vit_tiny_patch16_224" and info["n_params"] == sum(math.prod(s) for s in shapes.values())
    hf.build_vit_state_dict(tmp_path / "again.safetensors", img_size=32, patch_size=16, embed_dim=16, depth=2)
    assert _sha(tmp_path / "vit.safetensors") == _sha(tmp_path / "again.safetensors")


# ---------------------------------------------------------------------------------------
# Datasets


def _docs() -> list[tuple[str, str]]:
    sets = ["Wikipedia (en)", "Gutenberg (PG-19)", "ArXiv"]
    return [(sets[i % 3], f"{TEXTS[i % len(TEXTS)]} (document {i})") for i in range(40)]


def _load(folder: Path, split: str, **kwargs: object) -> list[dict]:
    import datasets

    return list(datasets.load_dataset(str(folder), split=split, **kwargs))


def test_pile_loads_like_the_hub_dataset(tmp_path, offline):
    import datasets

    docs = _docs()
    counts = ds_standins.build_pile(docs, tmp_path / "pile", seed=0)
    assert counts == {"train": 32, "validation": 4, "test": 4}
    assert (tmp_path / "pile" / "data" / "validation-00000-of-00001.jsonl").is_file()

    seen: list[tuple[str, str]] = []
    for split, n in counts.items():
        streamed = datasets.load_dataset(str(tmp_path / "pile"), split=split, streaming=True)
        assert isinstance(streamed, datasets.IterableDataset)
        rows = list(streamed)
        assert len(rows) == n
        assert all(set(row) == {"text", "meta"} and set(row["meta"]) == {"pile_set_name"} for row in rows)
        assert _load(tmp_path / "pile", split, cache_dir=str(tmp_path / "cache")) == rows  # non-streaming: same
        seen += [(row["meta"]["pile_set_name"], row["text"]) for row in rows]
    assert sorted(seen) == sorted(docs)  # every document in exactly one split

    shuffled = list(docs)
    random.Random(1).shuffle(shuffled)
    ds_standins.build_pile(shuffled, tmp_path / "again", seed=0)
    ds_standins.build_pile(docs, tmp_path / "reseeded", seed=1)

    def split_of(folder: Path, split: str) -> set[str]:
        return {row["text"] for row in _load(folder, split, streaming=True)}

    assert split_of(tmp_path / "again", "validation") == split_of(tmp_path / "pile", "validation")
    assert split_of(tmp_path / "reseeded", "validation") != split_of(tmp_path / "pile", "validation")


def test_pile_split_sizes_and_errors(tmp_path):
    assert ds_standins.build_pile(_docs()[:3], tmp_path / "tiny") == {"train": 1, "validation": 1, "test": 1}
    assert ds_standins.build_pile(_docs()[:5], tmp_path / "no_test", test_frac=0) == {"train": 4, "validation": 1}
    with pytest.raises(ValueError, match="too few"):
        ds_standins.build_pile(_docs()[:2], tmp_path / "x")
    with pytest.raises(TypeError, match=r"docs\[0\]"):
        ds_standins.build_pile(["just text"] * 5, tmp_path / "x")  # type: ignore[list-item]
    assert not (tmp_path / "x").exists()


def test_rows_dataset_keeps_declared_dtypes(tmp_path, offline):
    import datasets

    rows = {
        "train": [{"question": "q1", "options": ["a", "b"], "gold": 1, "meta": {"difficulty": 0.5}}] * 3,
        "dev": [{"gold": 0, "question": "q2", "options": ["c"], "meta": {"difficulty": 1.0}}],
    }
    features = {"question": "string", "options": ["string"], "gold": "int32", "meta": {"difficulty": "float32"}}
    counts = ds_standins.build_rows_dataset(rows, tmp_path / "qa", features=features)
    assert counts == {"train": 3, "dev": 1}
    for streaming in (True, False):
        loaded = datasets.load_dataset(
            str(tmp_path / "qa"), split="dev", streaming=streaming, cache_dir=str(tmp_path / "cache")
        )
        assert loaded.features["gold"] == datasets.Value("int32")  # JSON inference alone would give int64
        assert loaded.features["meta"]["difficulty"] == datasets.Value("float32")
        assert list(loaded) == [{"question": "q2", "options": ["c"], "gold": 0, "meta": {"difficulty": 1.0}}]
    first_line = (tmp_path / "qa" / "data" / "dev-00000-of-00001.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert list(json.loads(first_line)) == list(features)  # columns in schema order

    inferred = ds_standins.build_rows_dataset({"train": [{"n": 1}]}, tmp_path / "plain")
    assert inferred == {"train": 1}
    assert _load(tmp_path / "plain", "train", streaming=True) == [{"n": 1}]


def test_rows_dataset_refuses_ragged_or_empty_splits(tmp_path):
    with pytest.raises(ValueError, match=r"split 'train' row 1: keys"):
        ds_standins.build_rows_dataset({"train": [{"a": 1}, {"a": 2, "b": 3}]}, tmp_path / "x")
    with pytest.raises(ValueError, match="'test' has no rows"):
        ds_standins.build_rows_dataset({"train": [{"a": 1}], "test": []}, tmp_path / "x")
    with pytest.raises(ValueError, match="not valid"):
        ds_standins.build_rows_dataset({"my-split": [{"a": 1}]}, tmp_path / "x")
    with pytest.raises(ValueError, match=r"keys \['a'\] differ"):
        ds_standins.build_rows_dataset({"train": [{"a": 1}]}, tmp_path / "x", features={"b": "int64"})
    assert not (tmp_path / "x").exists()


def test_killed_dataset_build_keeps_the_previous_folder(tmp_path):
    ds_standins.build_rows_dataset({"train": [{"a": 1}]}, tmp_path / "d")
    before = {p.name: _sha(p) for p in (tmp_path / "d").rglob("*") if p.is_file()}
    with pytest.raises(TypeError):  # json cannot write an object: the build dies half-way through the rows
        ds_standins.build_rows_dataset({"train": [{"a": 2}, {"a": object()}]}, tmp_path / "d")
    assert {p.name: _sha(p) for p in (tmp_path / "d").rglob("*") if p.is_file()} == before
    with pytest.raises(TypeError):
        ds_standins.build_rows_dataset({"train": [{"a": 2}, {"a": object()}]}, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no new/, no temporary folder
