"""The ttt experiments as plain functions (Sun et al. 2024, Sec. 3): data, runs, evaluation, numbers.

Used by the Snakemake rules of ``workflow/rules/ttt.smk`` through thin adapters; everything here takes the
resolved ``ttt`` block of params.yaml (a dict) or parts of it, so it is testable without Snakemake.

* data: long documents (Gutenberg chapters, WikiText articles) from the mirrored corpora
  (:mod:`repro.common.lm.corpora`), a document-level held-out split, a locally trained tokenizer
  (:mod:`repro.common.lm.tokenizer`), flat token arrays; at paper scale the Pile by Hugging Face id and the
  Llama-2 tokenizer (network needed);
* runs: :func:`run_specs` expands archs x sizes x seeds (the LM comparison), the mini-batch ablation and the
  Table-1 ladder into named runs, each a model config (:class:`repro.ttt.models.LMConfig`, equal parameter
  counts via :func:`repro.ttt.models.equal_parameter_configs`) and a
  :class:`repro.common.lm.trainer.TrainConfig`; identical runs are shared (e.g. ablation b = 16 is the main
  TTT-Linear run);
* evaluation: per-position held-out loss at the training context (the paper's loss-vs-token-index figure),
  its mean (``final_eval_loss``) and ``late_minus_early_loss``;
* numbers: the flat numbers.json keys documented in ``workflow/rules/ttt.smk`` and small CSV tables that the
  figure rules plot.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.common.io import fingerprint, read_json, write_json
from repro.common.lm.corpora import Document, load_mix, split_documents
from repro.common.lm.evaluate import position_loss_curve
from repro.common.lm.tokenizer import Tokenizer, encode_documents, train_tokenizer, unigram_entropy
from repro.common.lm.trainer import CHECKPOINT_FILE, TrainConfig, load_checkpoint, save_tokens, train
from repro.ttt.experiments import binned_curve, late_minus_early_loss
from repro.ttt.latency import ARCH_VARIANTS
from repro.ttt.models import LMConfig, build_model, count_parameters, equal_parameter_configs, ladder_configs

#: Table-1 rows of :func:`repro.ttt.models.ladder_configs` -> numbers.json slug. The paper's perplexities
#: (125M, Pile 2k) live in workflow/expected/ttt.yaml (``ladder.<slug>.perplexity``). Our row 1 is the paper's "TTT equivalence" row (= linear attention, Theorem 1); the paper's plain "linear
#: attention" baseline (15.91) and "improved linear attention" (15.23) rows have no separate run here.
LADDER_ROWS: dict[str, str] = {
    "linear attention (TTT equivalence)": "linear_attention",
    "+ learnable W0": "learnable_w0",
    "+ LN and residual": "ln_residual",
    "+ mini-batch TTT": "minibatch",
    "+ learnable eta": "learnable_eta",
    "+ Mamba backbone": "mamba_backbone",
}


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------


def mirror_documents(data: Mapping[str, Any], resources: str | os.PathLike[str]) -> tuple[list[Document], list[Document]]:
    """(train, held-out) documents of the mirrored corpora ``data["corpora"]``, split by document."""
    docs = load_mix(list(data["corpora"]), resources)
    return split_documents(docs, heldout_frac=float(data["heldout_frac"]), seed=int(data["split_seed"]))


def corpora_root(manifests: Sequence[str]) -> str:
    """The resources folder of the corpora (the folder of their manifests, ``resources/corpora``)."""
    return str(Path(manifests[0]).parent) if len(manifests) else "resources/corpora"


def hub_texts(data: Mapping[str, Any], split: str, max_documents: int | None) -> list[str]:  # pragma: no cover
    """Texts of a Hugging Face dataset (paper scale; needs network and the ``datasets`` package)."""
    try:
        import datasets
    except ImportError as exc:
        raise RuntimeError("paper-scale ttt data needs the `datasets` package and network access") from exc
    stream = datasets.load_dataset(data["hub_dataset"], split=split, streaming=True)
    out = []
    for i, row in enumerate(stream):
        if max_documents is not None and i >= max_documents:
            break
        out.append(row[data["hub_text_field"]])
    return out


class HubTokenizer:  # pragma: no cover - paper scale only (network)
    """The Llama-2 tokenizer by hub id behind the small interface used here (``save``, ``encode_batch``)."""

    kind = "hf"

    def __init__(self, hf_id: str) -> None:
        from transformers import AutoTokenizer

        self.hf_id, self.backend = hf_id, AutoTokenizer.from_pretrained(hf_id)
        self.eos_id = int(self.backend.eos_token_id)
        self.vocab_size = len(self.backend)
        self.token_dtype = np.dtype(np.uint16) if self.vocab_size <= 1 << 16 else np.dtype(np.uint32)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self.backend(list(texts), add_special_tokens=False)["input_ids"]

    def save(self, directory: str | os.PathLike[str]) -> None:
        self.backend.save_pretrained(directory)


def make_tokenizer(tok: Mapping[str, Any], train_texts: Sequence[str]) -> Tokenizer | HubTokenizer:
    """``bpe`` / ``char`` trained on the training split (tiny), or ``hf`` = a hub tokenizer (paper)."""
    if tok["kind"] == "hf":  # pragma: no cover - needs network
        return HubTokenizer(tok["hf_id"])
    return train_tokenizer(list(train_texts), tok["kind"], int(tok["vocab_size"]))


def load_tokenizer(directory: str | os.PathLike[str], tok: Mapping[str, Any]) -> Tokenizer | HubTokenizer:
    if tok["kind"] == "hf":  # pragma: no cover - needs network
        return HubTokenizer(str(directory))
    return Tokenizer.load(directory)


def split_texts(data: Mapping[str, Any], resources: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """Train and held-out texts: mirrored corpora split by document, or the hub dataset's two splits."""
    if data["source"] == "mirror":
        train_docs, held_docs = mirror_documents(data, resources)
        return [d.text for d in train_docs], [d.text for d in held_docs]
    return (hub_texts(data, data["hub_train_split"], data["max_documents"]),  # pragma: no cover
            hub_texts(data, data["hub_heldout_split"], data["max_documents"]))


def tokenizer_step(params: Mapping[str, Any], resources: str | os.PathLike[str], out_dir: str) -> dict[str, Any]:
    """Train (or fetch) the tokenizer on the training split only; save it to ``out_dir``; return its stats."""
    train_texts, _ = split_texts(params["data"], resources)
    tk = make_tokenizer(params["tokenizer"], train_texts)
    if tk.vocab_size > int(params["tokenizer"]["vocab_size"]):
        raise ValueError(f"tokenizer has {tk.vocab_size} ids > tokenizer.vocab_size {params['tokenizer']['vocab_size']}")
    tk.save(out_dir)
    return {"kind": tk.kind, "vocab_size": int(tk.vocab_size)}


def tokens_step(params: Mapping[str, Any], resources: str | os.PathLike[str], tokenizer_dir: str,
                out_train: str, out_heldout: str) -> dict[str, Any]:
    """Encode the train / held-out documents (EOS between documents) into ``.npy`` token arrays."""
    train_texts, held_texts = split_texts(params["data"], resources)
    tk = load_tokenizer(tokenizer_dir, params["tokenizer"])
    train_ids = encode_documents(tk, train_texts)
    held_ids = encode_documents(tk, held_texts)
    need = int(params["context"]) + 1
    if len(held_ids) < need or len(train_ids) < need:
        raise ValueError(f"too few tokens for context {params['context']}: train {len(train_ids)}, "
                         f"held-out {len(held_ids)}")
    save_tokens(out_train, train_ids)
    save_tokens(out_heldout, held_ids)
    return {"train_tokens": int(len(train_ids)), "heldout_tokens": int(len(held_ids)),
            "train_documents": len(train_texts), "heldout_documents": len(held_texts),
            "vocab_size": int(tk.vocab_size),
            "heldout_unigram_entropy": unigram_entropy(held_ids, int(tk.vocab_size))}


# ---------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------


def size_spec(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    for s in params["sizes"]:
        if s["name"] == name:
            return dict(s)
    raise KeyError(f"ttt: no size named {name!r} in sizes {[s['name'] for s in params['sizes']]}")


def base_config(params: Mapping[str, Any], size: str) -> LMConfig:
    """The Transformer config of a size: the reference for equal parameter counts."""
    s = size_spec(params, size)
    return LMConfig(variant="transformer", vocab_size=int(params["tokenizer"]["vocab_size"]),
                    d_model=int(s["d_model"]), n_layer=int(s["n_layer"]), n_head=int(s["n_head"]),
                    context=int(params["context"]), mini_batch_size=int(params["mini_batch_size"]))


def arch_configs(params: Mapping[str, Any], size: str) -> dict[str, LMConfig]:
    """arch name (keys of ``ARCH_VARIANTS``) -> config with the Transformer's parameter count at ``size``
    (the comparison's archs, the ablation's arch and TTT-Linear, the base of the Table-1 ladder)."""
    base = base_config(params, size)
    archs = list(dict.fromkeys([*params["archs"], params["ablation"]["arch"], "ttt_linear"]))
    pairs = [ARCH_VARIANTS[a] for a in archs]
    by_name = equal_parameter_configs(base, pairs, mamba_layers_per_block=int(params["mamba_layers_per_block"]))
    out = {}
    for arch in archs:
        variant, backbone = ARCH_VARIANTS[arch]
        out[arch] = by_name[replace(base, variant=variant, backbone=backbone).name]
    return out


def train_config(params: Mapping[str, Any], size: str, seed: int) -> TrainConfig:
    """Table 3 recipe: AdamW (0.9, 0.95), cosine to ``min_lr``, ``warmup_frac`` warm-up, wd 0.1, clip 1."""
    t, s = params["train"], size_spec(params, size)
    steps = int(s["steps"])
    return TrainConfig(steps=steps, batch_size=int(t["batch_size"]), grad_accum=int(t["grad_accum"]),
                       context=int(params["context"]), lr=float(s["lr"]), min_lr=float(t["min_lr"]),
                       warmup=max(1, int(round(float(t["warmup_frac"]) * steps))),
                       weight_decay=float(t["weight_decay"]), betas=tuple(t["betas"]), grad_clip=float(t["grad_clip"]),
                       eval_every=int(t["eval_every"]), eval_batches=int(t["eval_batches"]),
                       log_every=int(t["log_every"]), ckpt_every=int(t["ckpt_every"]), seed=int(seed),
                       threads=int(t["threads"]), device=str(t["device"]))


def minibatch_label(b: int | None) -> str:
    """numbers.json label of a mini-batch size: the integer, or ``T`` for full-batch GD (b = context)."""
    return "T" if b is None else str(int(b))


def run_specs(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every training run, by name: ``{group, arch, size, seed, label, model, train}`` (configs as dicts).

    Names: ``<arch>-<size>-s<seed>`` (LM comparison), ``minibatch-b<b>`` (ablation), ``ladder-<row>``
    (Table 1). Each spec also lists every role it plays in ``roles`` (e.g. the main TTT-Linear run at the
    ablation size and seed 0 is also ablation b = 16 and ladder row "+ learnable eta"), so no run is trained
    twice.
    """
    specs: dict[str, dict[str, Any]] = {}
    by_key: dict[str, str] = {}

    def add(name: str, role: dict[str, Any], model: LMConfig, tcfg: TrainConfig) -> None:
        mdict = asdict(model)
        if model.variant.startswith("ttt"):  # eta_base None means the default: compare the resolved value
            mdict["eta_base"] = model.ttt_layer_config().eta_base
        key = repr((mdict, tcfg.to_dict()))
        if key in by_key:
            specs[by_key[key]]["roles"].append(role)
            return
        by_key[key] = name
        specs[name] = {"name": name, "model": asdict(model), "train": tcfg.to_dict(), "roles": [role],
                       "label": model.name}

    cfgs = {size["name"]: arch_configs(params, size["name"]) for size in params["sizes"]}
    for size in params["sizes"]:
        for arch in params["archs"]:
            for seed in params["seeds"]:
                add(f"{arch}-{size['name']}-s{seed}", {"group": "main", "arch": arch, "size": size["name"],
                                                        "seed": int(seed)},
                    cfgs[size["name"]][arch], train_config(params, size["name"], seed))
    ab = params["ablation"]
    seed0 = int(params["seeds"][0])
    for b in ab["minibatch_sizes"]:
        model = replace(cfgs[ab["size"]][ab["arch"]], mini_batch_size=None if b is None else int(b))
        add(f"minibatch-b{minibatch_label(b)}", {"group": "minibatch", "b": minibatch_label(b), "size": ab["size"],
                                                 "seed": seed0},
            model, train_config(params, ab["size"], seed0))
    lad = params["ladder"]
    ladder_cfgs = cfgs[lad["size"]] if lad["size"] in cfgs else arch_configs(params, lad["size"])
    rows = ladder_configs(ladder_cfgs["ttt_linear"])
    for title, model in rows.items():
        slug = LADDER_ROWS[title]
        if slug not in lad["rows"]:
            continue
        add(f"ladder-{slug}", {"group": "ladder", "row": slug, "title": title, "size": lad["size"], "seed": seed0},
            model, train_config(params, lad["size"], seed0))
    return specs


def lm_config(spec: Mapping[str, Any]) -> LMConfig:
    return LMConfig(**spec["model"])


def training_flops_per_token(cfg: LMConfig) -> float:
    """Approximate training FLOPs per token: ``6 N`` (N = non-embedding parameters + the LM head's V·d) plus,
    for the Transformer, the attention score/value matmuls ``12 L d T`` (PaLM's convention, as in
    :func:`repro.common.lm.models.flops_per_token`). The TTT inner loop (``O(b d + d²)`` per token and head) and
    the Mamba scan are small next to ``6 N`` at these widths and are not counted (the paper's own FLOPs axis
    counts them; an approximation, stated in the figure caption)."""
    n = count_parameters(cfg) - (0 if cfg.tie_embeddings else cfg.vocab_size * cfg.d_model)
    attn = 12.0 * cfg.n_layer * cfg.d_model * cfg.context if cfg.variant == "transformer" else 0.0
    return 6.0 * n + attn


def train_run(spec: Mapping[str, Any], train_tokens: np.ndarray, heldout_tokens: np.ndarray, out_dir: str,
              *, progress: bool = True, resume_key: str = "") -> dict[str, Any]:
    """Train one run with the shared trainer (exact resume from ``out_dir``); return its history record.

    ``resume_key`` fingerprints the run's inputs: a checkpoint in ``out_dir`` from other inputs is not resumed.
    """
    cfg = lm_config(spec)
    tcfg = TrainConfig.from_dict(spec["train"])
    top = int(np.max(train_tokens)) if len(train_tokens) else 0
    if top >= cfg.vocab_size:
        raise ValueError(f"token id {top} >= model vocab_size {cfg.vocab_size}")
    torch.manual_seed(tcfg.seed)  # the initial weights depend on the run's seed only
    model = build_model(cfg)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    history = train(model, train_tokens, tcfg, eval_tokens=heldout_tokens, out_dir=out_dir, progress=progress,
                    resume_key=resume_key)
    return {"name": spec["name"], "label": spec["label"], "n_params": model.num_parameters(),
            "flops_per_token": training_flops_per_token(cfg), "tokens_per_step": tcfg.tokens_per_step,
            "history": history}


def load_trained(spec: Mapping[str, Any], run_dir: str | os.PathLike[str]) -> torch.nn.Module:
    """The trained model of a run from its checkpoint (no optimizer, RNG untouched)."""
    model = build_model(lm_config(spec))
    load_checkpoint(Path(run_dir) / CHECKPOINT_FILE, model, restore_rng=False)
    return model.eval()


def evaluate_run(model: torch.nn.Module, heldout_tokens: np.ndarray, context: int, ev: Mapping[str, Any]) -> dict[str, Any]:
    """Per-position held-out loss at ``context`` (non-overlapping windows, evenly spaced): the curve, its mean
    (``final_eval_loss``), the late-minus-early difference and a log-binned curve for plotting."""
    curve = position_loss_curve(model, heldout_tokens, context, max_windows=int(ev["max_windows"]),
                                batch_size=int(ev["batch_size"])).astype(np.float64)
    frac = float(ev["fraction"])
    k = max(1, int(round(len(curve) * frac)))
    return {"final_eval_loss": float(curve.mean()), "late_minus_early_loss": late_minus_early_loss(curve, frac),
            "loss_early": float(curve[:k].mean()), "loss_late": float(curve[-k:].mean()),
            "curve": [float(x) for x in curve], "binned": binned_curve(curve, int(ev["curve_bins"]))}


# ---------------------------------------------------------------------------------------------------
# Numbers and tables
# ---------------------------------------------------------------------------------------------------


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if xs else math.nan


def collect(specs: Mapping[str, Mapping[str, Any]], histories: Mapping[str, Mapping[str, Any]],
            evals: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """numbers.json entries of the training runs and the figure tables (lists of row dicts).

    Keys: ``tiny.<arch>.<size>.{final_eval_loss,late_minus_early_loss,...}`` (mean over seeds, plus ``.seed<k>``
    values), ``tiny.<arch>.final_eval_loss`` / ``.late_minus_early_loss`` at the largest size,
    ``ablation.minibatch.<b>.final_eval_loss``, ``ladder.<row>.{final_eval_loss,perplexity}``.
    """
    nums: dict[str, Any] = {}
    runs, curves, flops = [], [], []
    main: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for name, spec in specs.items():
        ev, hist = evals[name], histories[name]
        fpt = float(hist["flops_per_token"])
        for role in spec["roles"]:
            row = {"run": name, "group": role["group"], "label": spec["label"], "size": role["size"],
                   "seed": role["seed"], "arch": role.get("arch", ""), "b": role.get("b", ""),
                   "row": role.get("row", ""), "title": role.get("title", ""), "n_params": hist["n_params"],
                   "train_tokens": hist["history"][-1]["tokens"] if hist["history"] else 0,
                   "train_flops": fpt * (hist["history"][-1]["tokens"] if hist["history"] else 0),
                   "final_eval_loss": ev["final_eval_loss"], "late_minus_early_loss": ev["late_minus_early_loss"],
                   "loss_early": ev["loss_early"], "loss_late": ev["loss_late"],
                   "train_seconds": hist["history"][-1]["elapsed"] if hist["history"] else 0.0}
            runs.append(row)
            if role["group"] == "main":
                main.setdefault((role["arch"], role["size"]), []).append(row)
                for pos, loss in zip(ev["binned"]["position"], ev["binned"]["loss"]):
                    curves.append({"arch": role["arch"], "label": spec["label"], "size": role["size"],
                                   "seed": role["seed"], "position": pos, "loss": loss})
                for h in hist["history"]:
                    if h.get("eval_loss") is not None:
                        flops.append({"arch": role["arch"], "label": spec["label"], "size": role["size"],
                                      "seed": role["seed"], "tokens": h["tokens"], "flops": fpt * h["tokens"],
                                      "eval_loss": h["eval_loss"]})
            elif role["group"] == "minibatch":
                nums[f"ablation.minibatch.{role['b']}.final_eval_loss"] = ev["final_eval_loss"]
                nums[f"ablation.minibatch.{role['b']}.late_minus_early_loss"] = ev["late_minus_early_loss"]
            elif role["group"] == "ladder":
                nums[f"ladder.{role['row']}.final_eval_loss"] = ev["final_eval_loss"]
                nums[f"ladder.{role['row']}.perplexity"] = float(math.exp(ev["final_eval_loss"]))
    sizes = [s["name"] for s in params["sizes"]]
    for (arch, size), rows in main.items():
        for key in ("final_eval_loss", "late_minus_early_loss", "loss_early", "loss_late"):
            nums[f"tiny.{arch}.{size}.{key}"] = _mean([r[key] for r in rows])
            if size == sizes[-1] and key in ("final_eval_loss", "late_minus_early_loss"):
                nums[f"tiny.{arch}.{key}"] = nums[f"tiny.{arch}.{size}.{key}"]
        for r in rows:
            nums[f"tiny.{arch}.{size}.seed{r['seed']}.final_eval_loss"] = r["final_eval_loss"]
        nums[f"tiny.{arch}.{size}.n_params"] = rows[0]["n_params"]
        nums[f"tiny.{arch}.{size}.train_flops"] = rows[0]["train_flops"]
    return {"numbers": nums, "runs": runs, "curves": curves, "flops": flops}


def latency_numbers(rows: Sequence[Mapping[str, Any]], device: str) -> dict[str, float]:
    """``latency.<device>.ctx<T>.<arch>.{prefill,decode}_ms_per_token`` from :func:`repro.ttt.latency.measure_latency`."""
    out = {}
    for r in rows:
        for key in ("prefill_ms_per_token", "decode_ms_per_token"):
            out[f"latency.{device}.ctx{int(r['ctx'])}.{r['arch']}.{key}"] = float(r[key])
    return out


def read_runs(paths: Mapping[str, str]) -> dict[str, Any]:
    return {name: read_json(p) for name, p in paths.items()}


# ---------------------------------------------------------------------------------------------------
# Steps called by the workflow adapters
# ---------------------------------------------------------------------------------------------------


def run_training(spec: Mapping[str, Any], train_path: str, heldout_path: str, work_dir: str, weights_out: str,
                 *, progress: bool = True, input_files: Sequence[str] = ()) -> dict[str, Any]:
    """Train a run in ``work_dir`` (its checkpoint there makes a killed job resume exactly), then publish the final
    checkpoint at ``weights_out`` (hard link, else copy).

    The resume key is a fingerprint of ``spec``, the token files and ``input_files`` (the library code): after a
    parameter, data or code change the old checkpoint in ``work_dir`` is not resumed and the run trains afresh.
    """
    from repro.common.lm.trainer import load_tokens

    ckpt = Path(work_dir) / CHECKPOINT_FILE
    resume_key = fingerprint([train_path, heldout_path, *input_files], extra=dict(spec))
    record = train_run(spec, load_tokens(train_path), load_tokens(heldout_path), work_dir, progress=progress,
                       resume_key=resume_key)
    out = Path(weights_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(ckpt, tmp)
    except OSError:
        import shutil

        shutil.copy2(ckpt, tmp)
    os.replace(tmp, out)
    return record


def latency_config(params: Mapping[str, Any]):
    """:class:`repro.ttt.latency.LatencyConfig` of the ``latency`` block (model = the Transformer of its size)."""
    from repro.ttt.latency import LatencyConfig

    lat = params["latency"]
    return LatencyConfig(archs=tuple(lat["archs"]), contexts=tuple(int(c) for c in lat["contexts"]),
                         model=base_config(params, lat["size"]),
                         mamba_layers_per_block=int(params["mamba_layers_per_block"]), batch=int(lat["batch"]),
                         warmup=int(lat["warmup"]), repeats=int(lat["repeats"]),
                         decode_steps=int(lat["decode_steps"]), threads=lat["threads"], device=str(lat["device"]),
                         dtype=str(lat["dtype"]))


def latency_device_key(device: str) -> str:
    """numbers.json device label: ``cpu`` or ``cuda``."""
    return device.split(":")[0]
