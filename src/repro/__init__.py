"""repro: reproducing ten 2024 language-model papers as one Snakemake workflow.

Library code lives in ``repro.common`` (shared infrastructure) and ``repro.<slug>``
(one package per paper). Nothing here imports snakemake.
"""

__version__ = "0.1.0"
