# Shared offline text corpora (repro.common.lm.corpora), fetched once for every paper that trains small LMs.
#
#   resources/corpora/{corpus}.json         manifest: the corpus's pinned files (url, sha256, local path)
#   resources/corpora/<HOST>/<PATH>         the files themselves, from the pinned URL or $REPRO_MIRROR
#
# A paper's data step takes the manifests of the corpora it reads as inputs and loads the documents with
# repro.common.lm.corpora.load_mix(names, "resources/corpora") (files already there are only re-checked).

from repro.common.lm.corpora import DEFAULT_MIX as CORPORA_DEFAULT_MIX

CORPORA_RESOURCES = "resources/corpora"


wildcard_constraints:
    corpus="[a-z0-9_]+",


rule corpora__fetch:
    """One mirrored corpus (all its pinned files), sha256-checked, plus a manifest naming them."""
    output:
        manifest=f"{CORPORA_RESOURCES}/{{corpus}}.json",
    log:
        "logs/corpora/fetch_{corpus}.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/corpora/fetch.py"


rule corpora__fetch_all:
    """Every corpus of the cleanly licensed default mix (DVC stage fetch@corpora); opt-in corpora are fetched
    only by the papers that name them."""
    input:
        manifests=expand(f"{CORPORA_RESOURCES}/{{corpus}}.json", corpus=CORPORA_DEFAULT_MIX),
