# The rehearsal scale's local stand-ins (issue 28; repro.common.standins): hub tokenizers and models in Hugging Face
# format, hub datasets with their real schemas, and the data of the stand-in API servers, each built from the
# mirrored corpora into results/paper_toy/standins/<kind>/<name> as params.yaml `standins` describes it. A step's
# params at paper_toy point at these folders (or at a stand-in server's URL); step_inputs makes the folder an input
# of the step, so only the stand-ins a run's steps read are built. The servers themselves are started by onstart
# (common.smk) and serve the folders built here.


rule standins__build:
    """One stand-in folder (tokenizer, model, dataset or server data) from the corpora (repro.common.standins)."""
    input:
        params=f"results/{{scale}}/standins/params/{{kind}}-{{name}}.json",
        corpora=expand(f"{CORPORA_RESOURCES}/{{corpus}}.json", corpus=STANDINS.get("corpora", [])),
        dependency=_standin_dependency,
        code=code_inputs("common/standin"),
    output:
        folder=directory(f"{STANDINS_OUT}/{{kind}}/{{name}}"),
    log:
        "logs/{scale}/standins/{kind}-{name}.log",
    wildcard_constraints:
        kind="tokenizers|models|datasets|servers",
        name="[A-Za-z0-9_.-]+",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/standin.py"
