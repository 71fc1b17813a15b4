"""Tiny Hugging Face-format stand-ins for hub tokenizers and causal-LM checkpoints (issue 28, ``paper_toy``).

At the rehearsal scale a hub id such as ``meta-llama/Llama-2-7b-hf`` is replaced by a local folder that the paper
code's own ``AutoTokenizer.from_pretrained(path)`` / ``AutoModelForCausalLM.from_pretrained(path)`` calls read
unchanged. The folders built here look like the real repos to that code:

* the tokenizer is trained on caller-given text with the ``tokenizers`` library and saved through the family's own
  ``transformers`` tokenizer class (``LlamaTokenizer``, ``GPTNeoXTokenizer``, ``GPT2Tokenizer``), so
  ``tokenizer_config.json`` names the same class as the real repo and ``AutoTokenizer`` rebuilds the same
  pre-tokenizer / decoder / BOS handling the real tokenizer gets; special tokens sit at the real ids
  (Llama-2 ``<unk>``/``<s>``/``</s>`` = 0/1/2, Pythia ``<|endoftext|>``/``<|padding|>`` = 0/1, GPT-2
  ``<|endoftext|>`` = the last id, as 50256 is in GPT-2's 50257-entry vocabulary);
* the checkpoint is a randomly initialised model of the family's architecture (``config.json``,
  ``generation_config.json``, ``model.safetensors``) with the tokenizer files copied next to it, so one folder is a
  complete hub-like repo.

Everything is deterministic (same texts and seed give byte-identical ``tokenizer.json`` and ``model.safetensors``)
and written atomically (built in a temporary sibling folder and renamed into place), so a killed build never leaves
a half-written folder that a later step would take for complete. Numbers computed with these models are
meaningless; that the paper-scale code path ran is the point.

``transformers``, ``tokenizers``, ``torch`` and ``safetensors`` are imported inside the functions: the workflow
imports this module at parse time, which must stay fast.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.common.io import atomic_dir

#: The Llama-2-chat template, verbatim from ``meta-llama/Llama-2-7b-chat-hf``'s ``tokenizer_config.json``:
#: ``<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s>``, roles must alternate. It has no
#: ``add_generation_prompt`` branch because a prompt ending in ``[/INST]`` already asks for the assistant's turn.
LLAMA2_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)

#: Byte-fallback tokens of a SentencePiece-style vocabulary (``<0x00>`` .. ``<0xFF>``), in id order.
_BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))
#: Where the tokenizer files of a checkpoint folder come from (everything ``save_pretrained`` of a tokenizer writes).
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


@dataclass(frozen=True)
class Family:
    """A model family: its ``transformers`` classes and the special tokens its real tokenizer uses.

    ``head_tokens`` are the special tokens at the start of the vocabulary, in id order (``tail_token`` is one at the
    very end, GPT-2's layout). ``byte_fallback`` selects the SentencePiece-like scheme (Metaspace ``▁`` word
    boundaries, unseen characters spelled as ``<0xNN>`` byte tokens: Llama-2); otherwise the tokenizer is byte-level
    BPE (GPT-2, Pythia), which encodes every string without an unknown token.
    """

    name: str
    architecture: str  # the transformers model class in config.json's "architectures"
    tokenizer_class: str  # the transformers tokenizer class in tokenizer_config.json
    bos: str
    eos: str
    unk: str | None
    pad: str | None
    head_tokens: tuple[str, ...]
    tail_token: str | None
    byte_fallback: bool
    add_bos_token: bool  # the real tokenizer prepends BOS to every encoded text (Llama-2 does)
    nfc: bool  # the real tokenizer NFC-normalises text first (GPT-NeoX's does)
    chat_template: str | None


FAMILIES: dict[str, Family] = {
    # Llama-2 (meta-llama/Llama-2-*-hf): SentencePiece BPE with byte fallback; no pad token.
    "llama": Family(
        name="llama",
        architecture="LlamaForCausalLM",
        tokenizer_class="LlamaTokenizer",
        bos="<s>",
        eos="</s>",
        unk="<unk>",
        pad=None,
        head_tokens=("<unk>", "<s>", "</s>"),
        tail_token=None,
        byte_fallback=True,
        add_bos_token=True,
        nfc=False,
        chat_template=LLAMA2_CHAT_TEMPLATE,
    ),
    # Pythia (EleutherAI/pythia-*): the GPT-NeoX-20B byte-level BPE. transformers 5's GPTNeoXTokenizer makes
    # <|padding|> the pad token by default, which is what loading the real repo gives, so the stand-in sets it too.
    "gpt_neox": Family(
        name="gpt_neox",
        architecture="GPTNeoXForCausalLM",
        tokenizer_class="GPTNeoXTokenizer",
        bos="<|endoftext|>",
        eos="<|endoftext|>",
        unk="<|endoftext|>",
        pad="<|padding|>",
        head_tokens=("<|endoftext|>", "<|padding|>"),
        tail_token=None,
        byte_fallback=False,
        add_bos_token=False,
        nfc=True,
        chat_template=None,
    ),
    # GPT-2 (openai-community/gpt2): byte-level BPE, <|endoftext|> is the last id; no pad token.
    "gpt2": Family(
        name="gpt2",
        architecture="GPT2LMHeadModel",
        tokenizer_class="GPT2Tokenizer",
        bos="<|endoftext|>",
        eos="<|endoftext|>",
        unk="<|endoftext|>",
        pad=None,
        head_tokens=(),
        tail_token="<|endoftext|>",
        byte_fallback=False,
        add_bos_token=False,
        nfc=False,
        chat_template=None,
    ),
}


def get_family(name: str) -> Family:
    """The :class:`Family` called ``name``; an unknown name raises an error listing the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; known: {sorted(FAMILIES)}") from None


# ---------------------------------------------------------------------------------------
# Tokenizers


def _min_vocab(fam: Family) -> int:
    """Smallest vocabulary the family's scheme allows: its special tokens, the 256 byte symbols, one more entry."""
    return len(fam.head_tokens) + (fam.tail_token is not None) + 256 + 1


def _train_bpe(texts: Sequence[str], fam: Family, vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train BPE merges on ``texts`` with the family's pre-tokenization; return ``(vocab, merges)`` in final ids."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    if fam.nfc:
        backend.normalizer = normalizers.NFC()
    if fam.byte_fallback:
        # Train on ▁-prefixed words (split=True), as SentencePiece does by default; LlamaTokenizer encodes with
        # split=False, which gives the same ids because no learned merge has "▁" after its first character.
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        budget = vocab_size - len(_BYTE_TOKENS)  # the trainer's share: special tokens + characters + merges
        trainer = trainers.BpeTrainer(
            vocab_size=budget,
            min_frequency=2,
            special_tokens=list(fam.head_tokens),
            # At most half of the budget goes to single characters; rarer ones are spelled with byte tokens,
            # like SentencePiece's character_coverage, so a vocabulary this small still learns merges.
            limit_alphabet=max(1, (budget - len(fam.head_tokens)) // 2),
            show_progress=False,
        )
    else:
        # add_prefix_space=False as in GPT-2 and Pythia, so decode(encode(text)) == text exactly.
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size - (fam.tail_token is not None),
            min_frequency=2,
            special_tokens=list(fam.head_tokens),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    backend.train_from_iterator(list(texts), trainer)
    model = json.loads(backend.to_str())["model"]
    trained = sorted(model["vocab"].items(), key=lambda item: item[1])
    # Merges are serialised as ["a", "b"] pairs by current tokenizers and as "a b" strings by older ones.
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]

    vocab: dict[str, int] = {}
    for token in fam.head_tokens:
        vocab[token] = len(vocab)
    if fam.byte_fallback:  # Llama-2's layout: <unk> <s> </s>, then <0x00>..<0xFF> at ids 3..258, then pieces
        for token in _BYTE_TOKENS:
            vocab[token] = len(vocab)
    for token, _ in trained:
        vocab.setdefault(token, len(vocab))
    if fam.tail_token is not None:
        vocab[fam.tail_token] = len(vocab)
    return vocab, merges


def build_tokenizer(
    texts: Sequence[str],
    family: str,
    vocab_size: int,
    out_dir: Path,
    *,
    chat_template: str | None = None,
) -> None:
    """Train a tokenizer in ``family``'s format on ``texts`` and save it as a hub-like folder at ``out_dir``.

    ``vocab_size`` is the total number of ids, special tokens included (and, for ``llama``, the 256 ``<0xNN>``
    byte-fallback tokens); merges stop at pairs seen once, so a small corpus may give fewer. The tokenizer is
    saved through the family's ``transformers`` class, so ``AutoTokenizer.from_pretrained(out_dir)`` loads it
    offline with the real tokenizer's behaviour (Llama-2 prepends ``<s>``; GPT-2 and Pythia add nothing).

    ``chat_template`` (a Jinja string) replaces the family's default: Llama-2-chat's ``[INST]`` template for
    ``llama`` (chat-model stand-ins call ``apply_chat_template``), none for the base-model families.
    Deterministic: the same texts and settings give byte-identical files.
    """
    import transformers

    fam = get_family(family)
    if isinstance(texts, str):  # a bare string would be trained on character by character: surely a bug
        raise TypeError("texts must be a sequence of strings, not a string")
    if not texts:
        raise ValueError("build_tokenizer needs at least one training text")
    if vocab_size < _min_vocab(fam):
        raise ValueError(f"vocab_size={vocab_size} is too small for {family!r}: need at least {_min_vocab(fam)}")

    vocab, merges = _train_bpe(texts, fam, vocab_size)
    tokenizer_cls = getattr(transformers, fam.tokenizer_class)
    kwargs: dict[str, Any] = {"bos_token": fam.bos, "eos_token": fam.eos, "unk_token": fam.unk, "pad_token": fam.pad}
    if fam.add_bos_token:
        # Saved in tokenizer_config.json as in the real Llama-2 repo; transformers reads it to add <s>.
        kwargs.update(add_bos_token=True, add_eos_token=False)
    template = chat_template if chat_template is not None else fam.chat_template
    if template is not None:
        kwargs["chat_template"] = template
    from repro.common.lm.models import quiet_transformers  # torch: imported on use

    with quiet_transformers():
        tokenizer = tokenizer_cls(vocab=vocab, merges=merges, **kwargs)
    with atomic_dir(out_dir) as tmp:
        tokenizer.save_pretrained(tmp)


# ---------------------------------------------------------------------------------------
# Checkpoints


def _model_config(fam: Family, tokenizer: Any, **sizes: int) -> Any:
    """The ``transformers`` config of a tiny ``fam`` model whose vocabulary and special ids match ``tokenizer``."""
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig

    ids = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if fam.name == "llama":
        return LlamaConfig(
            hidden_size=sizes["hidden_size"],
            intermediate_size=sizes["intermediate_size"],
            num_hidden_layers=sizes["num_layers"],
            num_attention_heads=sizes["num_heads"],
            num_key_value_heads=sizes["num_heads"],  # Llama-2-7B/13B use full multi-head attention
            max_position_embeddings=sizes["max_position"],
            rms_norm_eps=1e-5,  # Llama-2's value (the config default is 1e-6)
            tie_word_embeddings=False,
            **ids,
        )
    if fam.name == "gpt_neox":
        # The defaults are Pythia's: parallel residual, rotary on 25% of each head, untied embeddings.
        return GPTNeoXConfig(
            hidden_size=sizes["hidden_size"],
            intermediate_size=sizes["intermediate_size"],
            num_hidden_layers=sizes["num_layers"],
            num_attention_heads=sizes["num_heads"],
            max_position_embeddings=sizes["max_position"],
            tie_word_embeddings=False,
            **ids,
        )
    if fam.name == "gpt2":
        return GPT2Config(
            n_embd=sizes["hidden_size"],
            n_inner=sizes["intermediate_size"],
            n_layer=sizes["num_layers"],
            n_head=sizes["num_heads"],
            n_positions=sizes["max_position"],
            tie_word_embeddings=True,
            **ids,
        )
    raise AssertionError(f"no model config for family {fam.name!r}")  # FAMILIES and this function disagree


def _copy_tokenizer_files(tokenizer_dir: Path, out_dir: Path) -> None:
    """Copy the tokenizer files a hub repo holds from ``tokenizer_dir`` into ``out_dir`` (bytes unchanged)."""
    for name in _TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copyfile(tokenizer_dir / name, out_dir / name)


def build_checkpoint(
    family: str,
    out_dir: Path,
    *,
    tokenizer_dir: Path,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    max_position: int = 512,
    seed: int = 0,
) -> dict[str, Any]:
    """Save a randomly initialised ``family`` causal LM, with ``tokenizer_dir``'s tokenizer, as a hub-like repo.

    ``out_dir`` receives ``config.json`` (vocabulary size and bos/eos/pad ids taken from the tokenizer),
    ``generation_config.json``, ``model.safetensors`` and the tokenizer files, so ``AutoTokenizer`` and
    ``AutoModelForCausalLM.from_pretrained(out_dir)`` both load it offline. The weights depend only on ``seed``
    and the sizes (the caller's torch RNG state is untouched): two builds give byte-identical
    ``model.safetensors``. Returns ``{"family", "n_params", "vocab_size"}``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    fam = get_family(family)
    tokenizer_dir = Path(tokenizer_dir)
    if not (tokenizer_dir / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no tokenizer.json in {tokenizer_dir}: build it with build_tokenizer first")
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size={hidden_size} is not divisible by num_heads={num_heads}")
    from repro.common.lm.models import quiet_transformers  # torch: imported on use

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        config = _model_config(
            fam,
            tokenizer,
            hidden_size=hidden_size,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_size=intermediate_size,
            max_position=max_position,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    if type(model).__name__ != fam.architecture:
        raise AssertionError(f"{family!r} built a {type(model).__name__}, expected {fam.architecture}")
    from repro.common.lm.models import quiet_transformers  # torch: imported on use

    with atomic_dir(out_dir) as tmp, quiet_transformers():
        model.save_pretrained(tmp, safe_serialization=True)
        _copy_tokenizer_files(tokenizer_dir, tmp)
    return {
        "family": fam.name,
        "n_params": sum(p.numel() for p in model.parameters()),  # parameters() counts tied weights once
        "vocab_size": config.vocab_size,
    }


# ---------------------------------------------------------------------------------------
# Vision backbones


def build_vit_state_dict(
    out_path: Path,
    variant: str = "vit_tiny_patch16_224",
    *,
    img_size: int = 32,
    patch_size: int = 16,
    embed_dim: int = 32,
    depth: int = 2,
    num_heads: int = 2,
    mlp_ratio: float = 4.0,
    num_classes: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Save a random ViT state dict with timm's ``VisionTransformer`` key names and shapes as safetensors.

    The layout is timm's default ViT (class token, learned absolute position embeddings including the class
    token's, pre-norm blocks with fused ``qkv``, final ``norm``, linear ``head``); no ``timm`` import is needed.
    ``variant`` names the timm model the file stands in for; the sizes are the keyword arguments, tiny by default,
    and the caller creates the timm model with them. Weights are N(0, 0.02) (norm weights 1, biases 0), reproducible
    from ``seed`` (byte-identical files). Returns ``{"variant", "img_size", "patch_size", "num_heads", "n_params",
    "keys"}``.
    """
    import torch
    from safetensors.torch import save

    from repro.common.io import atomic_open

    if img_size % patch_size:
        raise ValueError(f"img_size={img_size} is not a multiple of patch_size={patch_size}")
    if embed_dim % num_heads:
        raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
    n_tokens = (img_size // patch_size) ** 2 + 1  # patches + class token
    hidden = int(embed_dim * mlp_ratio)
    gen = torch.Generator().manual_seed(seed)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * 0.02

    def norm(prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}.weight": torch.ones(embed_dim), f"{prefix}.bias": torch.zeros(embed_dim)}

    def linear(prefix: str, n_out: int, n_in: int) -> dict[str, torch.Tensor]:
        return {f"{prefix}.weight": normal(n_out, n_in), f"{prefix}.bias": torch.zeros(n_out)}

    tensors: dict[str, torch.Tensor] = {
        "cls_token": normal(1, 1, embed_dim),
        "pos_embed": normal(1, n_tokens, embed_dim),
        "patch_embed.proj.weight": normal(embed_dim, 3, patch_size, patch_size),
        "patch_embed.proj.bias": torch.zeros(embed_dim),
    }
    for i in range(depth):
        block = f"blocks.{i}"
        tensors |= norm(f"{block}.norm1")
        tensors |= linear(f"{block}.attn.qkv", 3 * embed_dim, embed_dim)
        tensors |= linear(f"{block}.attn.proj", embed_dim, embed_dim)
        tensors |= norm(f"{block}.norm2")
        tensors |= linear(f"{block}.mlp.fc1", hidden, embed_dim)
        tensors |= linear(f"{block}.mlp.fc2", embed_dim, hidden)
    tensors |= norm("norm")
    tensors |= linear("head", num_classes, embed_dim)

    # Only the one metadata key timm/transformers files carry: safetensors writes a metadata map with several keys in
    # a random order (a Rust HashMap), which would make the bytes differ from build to build.
    with atomic_open(Path(out_path), "wb") as fh:
        fh.write(save(tensors, metadata={"format": "pt"}))
    return {
        "variant": variant,
        "img_size": img_size,
        "patch_size": patch_size,
        "num_heads": num_heads,  # not visible in any shape (qkv is fused): the caller builds the model with it
        "n_params": sum(t.numel() for t in tensors.values()),
        "keys": list(tensors),
    }
