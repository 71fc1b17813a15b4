"""Local stand-ins for the external resources of paper scale (issue 28, the rehearsal scale ``paper_toy``).

At ``paper_toy`` every paper runs its paper-scale code path with only ids, URLs and sizes changed: hub model ids
point at tiny randomly initialised checkpoints in Hugging Face format (:mod:`.hf`), hub dataset ids at small local
datasets with the real ones' schemas, read through the same ``datasets.load_dataset`` call (:mod:`.datasets`), and
API base URLs at local servers that speak the real APIs' wire protocols (:mod:`.s2` Semantic Scholar Graph API,
:mod:`.wiki` MediaWiki action API + Wikimedia pageviews REST, and the project's strict OpenAI-compatible server),
started and stopped by the workflow (:mod:`.serve`). Numbers computed against stand-ins are meaningless; that every
paper-scale step ran is the point.
"""
