"""TTT layers: RNN layers whose hidden state is a model, updated by a self-supervised learning step per token.

The paper: ``workflow/papers.yaml``, ``papers.ttt.title`` (arXiv 2407.04620).

Modules:

* ``layers``: TTT-Linear / TTT-MLP layers (primal and dual forms, mini-batch TTT, decode cache);
* ``mamba``: the Mamba selective-SSM block (sequential and chunked scans, decode);
* ``models``: causal LMs (Transformer, Mamba, TTT in the Transformer and Mamba backbones), equal-parameter
  helpers and the Table-1 ladder;
* ``equivalence``: primal = dual and Theorem 1 (TTT = linear attention) as numbers;
* ``latency``: prefill / decode ms per token vs context;
* ``experiments``: per-position loss of a trained model (loss vs token index);
* ``pipeline``: the experiments of ``workflow/rules/ttt.smk`` (data, named runs, training through the shared
  trainer, evaluation, numbers.json); ``figures``: their plots.
"""
