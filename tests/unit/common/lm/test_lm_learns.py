"""Quality bar: a tiny model trained on mirrored text beats the unigram entropy on held-out text."""

from __future__ import annotations

from repro.common.lm import evaluate as E


def test_heldout_loss_is_clearly_below_unigram_entropy(tiny_lm):
    """~9 s on one core: 300 steps of a 2-layer GPT-2 (d=64, ctx 64, BPE-512) on tiny Shakespeare.

    The unigram entropy (nats/token, from token counts on the training split) is the loss of
    the best context-free predictor; the held-out documents are a disjoint 10% of the corpus.
    """
    h_unigram = tiny_lm.unigram_entropy
    evals = [e["eval_loss"] for e in tiny_lm.history if e["eval_loss"] is not None]
    heldout = E.mean_loss(tiny_lm.model, tiny_lm.heldout_ids)  # every non-overlapping window
    print(
        f"\nunigram entropy {h_unigram:.3f} nats/token, held-out loss {heldout:.3f} "
        f"(trainer eval {evals[-1]:.3f}), fixture wall time {tiny_lm.seconds:.1f}s"
    )
    assert 4.5 < h_unigram < 6.0  # sanity: a 512-entry BPE on English drama
    assert heldout < h_unigram - 0.8
    assert abs(evals[-1] - heldout) < 0.15  # the trainer's eval windows agree with a full pass
    assert evals == sorted(evals, reverse=True)  # eval loss falls at every eval
