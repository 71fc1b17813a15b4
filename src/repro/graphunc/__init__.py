"""Claim-level uncertainty of long-form LM outputs from the centrality of claims in a generation-claim graph.

The paper: ``workflow/papers.yaml``, ``papers.graphunc.title``. Exact tier: the claim-level tables recomputed
from the released entailment matrices (:mod:`.data`, :mod:`.graph`, :mod:`.exact`, :mod:`.metrics`); tiny
tier: an end-to-end run on a synthetic knowledge base (:mod:`.world` builds it, :mod:`.tiny` runs the tier); workflow steps in
:mod:`.steps`.
"""
