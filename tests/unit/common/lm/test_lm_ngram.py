"""repro.common.lm.ngram: the one n-gram model (Witten-Bell, add-k) and the floors built on it.

The model is a proper distribution for every context, agrees with a brute-force count
formula, and the ttt floors and the pplcorr byte models are calls of it.
"""

from collections import Counter
from itertools import pairwise

import numpy as np
import pytest

from repro.common.lm.ngram import (
    bigram_heldout_loss,
    heldout_loss,
    train_ngram,
    unigram_heldout_loss,
)


def _brute_force_bigram(train, held, V):
    uni = np.bincount(train, minlength=V) + 1.0
    p1 = uni / uni.sum()
    pair = np.zeros((V, V))
    np.add.at(pair, (train[:-1], train[1:]), 1)
    losses = []
    for a, b in pairwise(held):
        c, t = pair[a].sum(), (pair[a] > 0).sum()
        losses.append(-np.log((pair[a, b] + t * p1[b]) / (c + t)) if c else -np.log(p1[b]))
    return float(np.mean(losses))


def test_bigram_matches_a_brute_force_count_and_sums_to_one():
    rng = np.random.default_rng(0)
    V = 7
    train, held = rng.integers(0, V - 1, 300), rng.integers(0, V, 80)  # id V-1 never seen in training
    assert bigram_heldout_loss(train, held, V) == pytest.approx(_brute_force_bigram(train, held, V), rel=1e-12)
    # each conditional distribution sums to one: score every successor of every context
    total = 0.0
    for a in range(V):
        for b in range(V):
            total += np.exp(-bigram_heldout_loss(train, np.array([a, b]), V))
    assert total == pytest.approx(V, rel=1e-9)


def test_bigram_beats_unigram_on_a_markov_chain_and_rejects_bad_ids():
    rng = np.random.default_rng(1)
    seq = [0]
    for _ in range(5000):
        seq.append((seq[-1] + rng.choice([1, 2])) % 16)  # strongly bigram-predictable
    seq = np.array(seq)
    assert bigram_heldout_loss(seq[:4000], seq[4000:], 16) < 0.8 < unigram_heldout_loss(seq[:4000], seq[4000:], 16)
    with pytest.raises(ValueError, match="vocab_size"):
        bigram_heldout_loss(seq, seq, 8)


# --- the general order-k model -------------------------------------------------------------------


def _corpus(V=5, seed=3):
    rng = np.random.default_rng(seed)
    # uneven lengths (including a 1-token sequence) and id V-1 never seen, so that unseen
    # contexts, unseen tokens and short sequences all occur
    return [rng.integers(0, V - 1, n) for n in (40, 1, 17, 60)]


def _brute_force(train, order, V, smoothing, add_k, pad):
    """P(w | history) from explicit n-gram dictionaries: the module doc's formulas, one token at a time."""
    grams = [Counter() for _ in range(order)]  # grams[k][(h..., w)] for context length k
    for seq in train:
        seq = [int(t) for t in seq]
        full = ([pad] * (order - 1) if pad is not None else []) + seq
        start = order - 1 if pad is not None else 0
        for i in range(start, len(full)):
            for k in range(order):
                if i - k >= 0:
                    grams[k][tuple(full[i - k : i + 1])] += 1
    n = sum(grams[0].values())

    def p1(w):
        return (grams[0][(w,)] + 1.0) / (n + V)

    def prob(history, w):
        h = ([pad] * (order - 1) if pad is not None else []) + [int(t) for t in history]
        if smoothing == "add_k":
            k = order - 1
            if k == 0 or len(h) < k:
                return p1(w)
            ctx = tuple(h[len(h) - k :])
            c_h = sum(c for g, c in grams[k].items() if g[:-1] == ctx)
            return (grams[k][ctx + (w,)] + add_k) / (c_h + V * add_k)
        p = p1(w)
        for k in range(1, min(order - 1, len(h)) + 1):
            ctx = tuple(h[len(h) - k :])
            succ = {g[-1]: c for g, c in grams[k].items() if g[:-1] == ctx}
            c_h, t_h = sum(succ.values()), len(succ)
            if c_h:
                p = (succ.get(w, 0) + t_h * p) / (c_h + t_h)
        return p

    return prob


@pytest.mark.parametrize("pad", [None, 0])
@pytest.mark.parametrize("smoothing", ["witten_bell", "add_k"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_model_matches_brute_force_and_sums_to_one(order, smoothing, pad):
    V, train = 5, _corpus()
    model = train_ngram(train, order, V, smoothing=smoothing, add_k=0.3, pad=pad)
    prob = _brute_force(train, order, V, smoothing, 0.3, pad)
    rng = np.random.default_rng(order)
    held = [rng.integers(0, V, 25), np.array([4]), train[2][:9]]
    got = model.split_probs(held)
    for seq, p in zip(held, got, strict=True):
        want = [prob(seq[:i], int(seq[i])) for i in range(len(seq))]
        np.testing.assert_allclose(p, want, rtol=1e-12, atol=0)
    # every conditional distribution sums to one over the V ids: histories seen, unseen, short
    for history in ([], [0], [4], [1, 2], [4, 4, 4], list(train[0][:7])):
        p = [ps[-1] for ps in model.split_probs([np.array([*history, w]) for w in range(V)])]
        assert sum(p) == pytest.approx(1.0, abs=1e-12)
        assert min(p) > 0


def test_heldout_loss_is_the_mean_of_scored_tokens_and_floors_are_model_calls():
    V, train = 6, _corpus(6, seed=4)
    held = [np.array([0, 1, 2, 3, 5, 1]), np.array([2, 2])]
    model = train_ngram(train, 3, V)
    p = model.split_probs(held)
    assert heldout_loss(model, held) == pytest.approx(-np.mean(np.log(np.concatenate(p))), rel=1e-14)
    assert heldout_loss(model, held, skip_first=2) == pytest.approx(
        -np.mean(np.log(np.concatenate([q[2:] for q in p]))), rel=1e-14
    )
    stream, h = np.concatenate(train), held[0]
    # the ttt floors are exactly these calls (same numbers, bit for bit)
    assert bigram_heldout_loss(stream, h, V) == heldout_loss(train_ngram([stream], 2, V), [h], skip_first=1)
    assert unigram_heldout_loss(stream, h, V) == heldout_loss(train_ngram([stream], 1, V), [h])


def test_pplcorr_byte_models_are_the_common_model_over_byte_ids():
    from repro.pplcorr.ngram import PAD, as_bytes, logprobs_many
    from repro.pplcorr.ngram import train_ngram as train_byte_ngram

    texts, held = ["the cat sat on the mat. " * 3, "a dog\x00", "na\u00efve"], ["the dog", "\u00e9t\u00e9", ""]
    for smoothing in ("witten_bell", "add_k"):
        byte_lm = train_byte_ngram(texts, 3, smoothing)
        common = train_ngram([as_bytes(t) for t in texts], 3, 256, smoothing=smoothing, add_k=0.1, pad=PAD)
        for a, b in zip(logprobs_many(byte_lm, held), common.split_probs([as_bytes(t) for t in held]), strict=True):
            assert np.array_equal(a, np.log2(b))


def test_model_rejects_bad_inputs():
    with pytest.raises(ValueError, match="overflow"):
        train_ngram([np.array([1, 2])], 8, 256)
    with pytest.raises(ValueError, match="outside 0 .. vocab_size-1"):
        train_ngram([np.array([1, 7])], 2, 5)
    with pytest.raises(ValueError, match="unknown smoothing"):
        train_ngram([np.array([1, 2])], 2, 5, smoothing="kneser_ney")
    with pytest.raises(ValueError, match="pad id"):
        train_ngram([np.array([1, 2])], 2, 5, pad=5)
    with pytest.raises(ValueError, match="no sequences"):
        train_ngram([], 2, 5)
    with pytest.raises(TypeError, match="list of token sequences"):
        train_ngram(np.array([1, 2, 3]), 2, 5)
    model = train_ngram([np.array([1, 2])], 2, 5)
    with pytest.raises(ValueError, match="outside"):
        model.probs([np.array([5])])
    with pytest.raises(ValueError, match="no token to score"):
        heldout_loss(model, [np.array([1])], skip_first=1)


def test_the_floors_read_a_long_stream_in_chunks_to_the_same_model(tmp_path):
    """Issue 28, item 7 (no step holds a whole corpus): the ttt floors count a paper-scale stream chunk by chunk
    (token shards, a memory map). The counts are integers, so the model is the one-shot model bit for bit, for every
    chunk size (1, a prime, larger than the stream) and order; the held-out mean is the same sum in another order."""
    from repro.common.lm.ngram import train_ngram_stream
    from repro.common.lm.shards import open_shards, write_shards

    rng = np.random.default_rng(5)
    V = 11
    train, held = rng.integers(0, V, 997), rng.integers(0, V, 301)
    write_shards(tmp_path, [train[:500], train[500:]], np.uint16, shard_tokens=97)
    shards = open_shards(tmp_path)
    for order in (1, 2, 3):
        one_shot = train_ngram([train], order, V)
        for chunk in (1, 7, 128, 5000):
            for stream in (train, shards):
                model = train_ngram_stream(stream, order, V, chunk=chunk)
                assert np.array_equal(model.unigram, one_shot.unigram)
                for got, want in zip(model.tables, one_shot.tables, strict=True):
                    for field in ("joint", "joint_counts", "context", "context_counts", "context_types"):
                        assert np.array_equal(getattr(got, field), getattr(want, field)), (order, chunk, field)
    want_bigram = heldout_loss(train_ngram([train], 2, V), [held], skip_first=1)
    want_unigram = heldout_loss(train_ngram([train], 1, V), [held])
    assert bigram_heldout_loss(shards, held, V) == want_bigram  # one chunk: the same mean, bit for bit
    for chunk in (1, 7, 64):
        assert bigram_heldout_loss(shards, held, V, chunk=chunk) == pytest.approx(want_bigram, rel=1e-12)
        assert unigram_heldout_loss(shards, held, V, chunk=chunk) == pytest.approx(want_unigram, rel=1e-12)


def test_the_bigram_floor_of_a_long_stream_needs_memory_for_a_chunk_not_the_stream(tmp_path):
    """A 10M-token memory-mapped stream counted 2^20 tokens at a time: the peak of traced allocations stays near what
    one chunk needs (measured 82 MiB: int64 codes, contexts and the sort of np.unique, about 80 bytes per chunk token)
    whatever the stream's length; counting it whole needs about 40 bytes per stream token (390 MiB here)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    np.save(tmp_path / "train.npy", rng.integers(0, 50, 10_000_000).astype(np.uint16))
    np.save(tmp_path / "held.npy", rng.integers(0, 50, 100_000).astype(np.uint16))
    train, held = np.load(tmp_path / "train.npy", mmap_mode="r"), np.load(tmp_path / "held.npy", mmap_mode="r")
    tracemalloc.start()
    try:
        loss = bigram_heldout_loss(train, held, 50, chunk=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert loss == pytest.approx(np.log(50), rel=0.01)  # uniform ids: nothing to learn beyond the vocabulary size
    assert peak < 150 * 2**20, f"peak {peak / 2**20:.0f} MiB"
