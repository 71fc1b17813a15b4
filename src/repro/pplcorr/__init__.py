"""Improving Pretraining Data Using Perplexity Correlations (Thrush, Potts, Hashimoto 2024)."""
