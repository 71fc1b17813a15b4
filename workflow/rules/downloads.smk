# The released-data downloads of every paper whose registry entry (workflow/papers.yaml) names a download group
# with target <slug>__fetch: one generated rule per paper, so the shape is typed once. The files, their pinned URLs
# and checksums come from repro.<slug>.data.pinned_files (common.smk `downloads`); the folder from the registry.
# DVC stage fetch@<group> runs the rule; the corpora group has its own mechanism (corpora.smk).


for _slug in FETCH_FOLDERS:

    rule:
        """The paper's released files (repro.<slug>.data.pinned_files), from the pinned URL or $REPRO_MIRROR, sha256-checked."""
        name:
            f"{_slug}__fetch"
        input:
            pins=pins_file(_slug, downloads(_slug)),
        output:
            **{name: spec["path"] for name, spec in downloads(_slug).items()},
        log:
            f"logs/{_slug}/fetch.log",
        conda:
            REPRO_ENV
        script:
            "../scripts/common/fetch.py"
