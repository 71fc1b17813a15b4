"""tiny and hf backends over the session's trained model directory."""

from __future__ import annotations

import math
import time

import pytest

from repro.common.llm import get_llm
from repro.common.llm.base import LLMError
from repro.common.lm import evaluate as E
from repro.common.lm import sampling as S

PROMPT = "ROMEO:\nI will"


@pytest.fixture(scope="module")
def tiny(tiny_lm):
    return get_llm("tiny", path=str(tiny_lm.model_dir), device="cpu")


def test_tiny_backend_matches_the_toolkit(tiny, tiny_lm):
    tok = tiny_lm.tokenizer
    [[text]] = tiny.generate([PROMPT], max_tokens=20)
    ids = S.generate_naive(tiny_lm.model, [tok.encode(PROMPT)], 20, stop_ids=[tok.eos_id])[0]
    assert text == tok.decode(ids, skip_special=True)
    lps = tiny.logprobs(PROMPT, [" go", " not be"])
    ref = E.continuation_logprobs(tiny_lm.model, tok, PROMPT, [" go", " not be"])
    assert lps == pytest.approx([s.sum_logprob for s in ref], abs=1e-5)
    top = tiny.top_logprobs(PROMPT, 5)
    assert len(top) <= 5 and max(top.values()) <= 0.0
    assert list(top.values()) == sorted(top.values(), reverse=True)
    # The greedy next token is the top-1 entry, with the log-prob that logprobs() gives it.
    first = next(iter(top))
    assert tiny.logprobs(PROMPT, [first])[0] == pytest.approx(top[first], abs=1e-5)
    assert sum(math.exp(v) for v in top.values()) <= 1.0 + 1e-6


def test_tiny_sampling_stop_and_chat(tiny):
    a = tiny.generate(["KING:", "QUEEN:"], n=3, temperature=1.0, max_tokens=15, seed=7)
    b = tiny.generate(["KING:", "QUEEN:"], n=3, temperature=1.0, max_tokens=15, seed=7)
    assert a == b and len(a) == 2 and all(len(x) == 3 for x in a)
    assert len(set(a[0])) > 1  # n samples differ from each other
    # A prompt's samples do not depend on the other prompts of the batch.
    assert tiny.generate(["QUEEN:"], n=3, temperature=1.0, max_tokens=15, seed=7) == [a[1]]
    stopped = tiny.generate(["KING:"], n=3, temperature=1.0, max_tokens=15, seed=7, stop=["\n", "e"])
    for full, cut in zip(a[0], stopped[0], strict=True):
        assert "\n" not in cut and "e" not in cut and full.startswith(cut)
    reply = tiny.chat([{"role": "user", "content": "Who art thou?"}], max_tokens=10, temperature=1.0, seed=1)
    assert len(reply) == 1 and isinstance(reply[0], str)
    assert tiny.describe()["weights_sha256"]


def test_hf_backend_reads_the_same_directory(tiny, tiny_lm):
    hf = get_llm("hf", model=str(tiny_lm.model_dir), device="cpu")
    assert hf.context == tiny_lm.cfg.context
    assert hf.generate([PROMPT], max_tokens=20) == tiny.generate([PROMPT], max_tokens=20)
    assert hf.logprobs(PROMPT, [" go"]) == pytest.approx(tiny.logprobs(PROMPT, [" go"]), abs=1e-5)


def test_hf_backend_offline_hub_id_fails_fast_and_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(LLMError, match="not a local directory.*offline"):
        get_llm("hf", model="openai-community/gpt2-not-cached-here")
    with pytest.raises(LLMError, match="not a local directory"):
        get_llm("hf", model="openai-community/gpt2-not-cached-here", allow_download=False)
    assert time.perf_counter() - t0 < 20  # no minute of hub retries


def test_hf_backend_uses_the_chat_template_and_serve_detects_plain_hf_dirs(tiny_lm, tmp_path):
    import json
    import shutil

    from repro.common.llm.hf import HFLLM
    from repro.common.llm.serve import load_local_llm

    d = tmp_path / "plain_hf"
    shutil.copytree(tiny_lm.model_dir, d)
    (d / "repro_lm.json").unlink()  # now only an HF checkpoint
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg["chat_template"] = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}<assistant>"
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    llm = load_local_llm(d, device="cpu")
    assert isinstance(llm, HFLLM)
    msgs = [{"role": "user", "content": "Who art thou?"}]
    assert llm.chat_prompt_ids(msgs) == tiny_lm.tokenizer.encode("<user>Who art thou?\n<assistant>")
    [reply] = llm.chat(msgs, max_tokens=5)
    ids = S.generate_naive(tiny_lm.model, [llm.chat_prompt_ids(msgs)], 5, stop_ids=[tiny_lm.tokenizer.eos_id])[0]
    assert reply == tiny_lm.tokenizer.decode(ids, skip_special=True)
