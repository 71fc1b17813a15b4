"""repro.common.lm.ngram: the count-based floors are proper distributions and learn bigram structure."""

import numpy as np
import pytest

from repro.common.lm.ngram import bigram_heldout_loss, unigram_heldout_loss


def _brute_force_bigram(train, held, V):
    uni = np.bincount(train, minlength=V) + 1.0
    p1 = uni / uni.sum()
    pair = np.zeros((V, V))
    np.add.at(pair, (train[:-1], train[1:]), 1)
    losses = []
    for a, b in zip(held[:-1], held[1:]):
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
