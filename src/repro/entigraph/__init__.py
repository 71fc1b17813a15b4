"""EntiGraph: synthetic data from a small corpus's entities and relations, for continued pretraining on it.

The paper: ``workflow/papers.yaml``, ``papers.entigraph.title`` (ICLR 2025, arXiv 2409.07431).

* :mod:`repro.entigraph.toy` -- the paper's mathematical model (Sec. 6 / App. F): a stochastic process on a
  random directed graph, its exact expected link density, the branching-process approximation and the bounds.
* :mod:`repro.entigraph.mixexp` -- the mixture-of-exponentials scaling form and its least-squares fit.
* :mod:`repro.entigraph.world` -- the tiny tier's corpus (facts stated once) with multiple-choice questions,
  and the QuALITY loader of the paper scale.
* :mod:`repro.entigraph.generator` -- EntiGraph (entities, pair and triple relation texts) and the rephrase
  baseline through the LLM backend, with the offline structural stand-in backend ``entigraph_template``.
* :mod:`repro.entigraph.cpt` -- continued pretraining of a small LM with replay, closed-book QA by option
  log-likelihood, retrieval (open-book) QA.
* :mod:`repro.entigraph.steps` -- the workflow steps; :mod:`repro.entigraph.figures` -- the figures.
"""
