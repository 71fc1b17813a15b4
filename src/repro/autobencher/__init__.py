"""AutoBencher: benchmark construction as a search for datasets that are salient, novel and difficult.

The paper: ``workflow/papers.yaml``, ``papers.autobencher.title``. Exact tier: the released safety results
(:mod:`.safety`); tiny tier: the search loop (:mod:`.search`, :mod:`.roles`, :mod:`.metrics`) on a synthetic
world (:mod:`.world`) with a panel of tiny test-takers (:mod:`.panel`); workflow steps in :mod:`.steps`.
"""
