"""GPU rules at paper scale (issue 28, item 7), checked statically from the rules files and the source.

A rule requests GPUs with ``resources: gpu=gpus(N)`` (workflow/rules/common.smk; N at paper scale, 0 below).
Two promises follow from it:

(a) the job computes on devices of its own: the rule runs its step through the common adapter
    (workflow/scripts/common/step.py), which hands the rule's ``gpu`` resource to ``run_step``, which holds
    that many GPUs (``repro.common.devices.claim_gpus``: locked, ``CUDA_VISIBLE_DEVICES`` set) while the step
    function runs. A rule with its own script must call ``claim_gpus`` itself (its script or a repro module it
    imports). The claim's behaviour is tested in tests/unit/common/test_devices.py.
(b) a rule asking for more than one GPU launches a distributed run (torchrun, torch.distributed.run or the elastic
    launcher start its ranks); otherwise the other GPUs sit idle. The trainer can run as ranks (issue 29) but no
    rule launches them yet: today's offenders are listed with their reasons, and a new multi-GPU rule without a
    launcher fails here.

The scan reads rule blocks from the text (no workflow parse): every ``gpu=`` must be a ``gpus(...)`` call
(checked), and a count that is not a literal (read from params) counts as possibly more than one.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from repro.common.imports import ImportGraph, module_file

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "workflow" / "rules"
SRC = ROOT / "src"
STEP_ADAPTER = "../scripts/common/step.py"

# Multi-GPU rules that do not launch a distributed run yet (b). Each entry says why; remove it when the step gets
# a launcher (the test fails on a stale entry, so the list only shrinks).
SINGLE_DEVICE_MULTI_GPU = {
    "entigraph__cpt": "the step trains in one process: its paper-scale path (Llama 3 8B from the hub, FSDP over 8 "
    "GPUs with repro.common.lm.launch.run_ranks, load_pretrained / save_pretrained) is issue 33",
    "maskembed__align": "the step trains its ViT in one process with its own loop: the paper-scale timm backbones "
    "raise PaperScaleError today (issue 38)",
    "maskembed__vlm": "not implemented at paper scale (raises PaperScaleError: Prismatic VLM stack; issue 38)",
    "pplcorr__paper_pretrain": "not implemented at paper scale (raises NotImplementedError; count from "
    "params pplcorr.paper_pretrain.gpus): Pythia-160M on the selected tokens through the training engine is issue 36",
}


@dataclass(frozen=True)
class GpuRule:
    name: str
    file: str
    count: int | None  # the gpus() argument when it is a literal; None: an expression (e.g. from params)
    script: str | None


def _rule_blocks(text: str) -> list[tuple[str | None, str]]:
    """(name, block) of every rule in a rules file; name None for a generated rule (``rule:`` + ``name:``)."""
    starts = list(re.finditer(r"^\s*rule(?:\s+(\w+))?\s*:", text, re.MULTILINE))
    return [
        (m.group(1), text[m.end() : starts[i + 1].start() if i + 1 < len(starts) else len(text)])
        for i, m in enumerate(starts)
    ]


def _gpu_rules() -> list[GpuRule]:
    found = []
    for path in sorted(RULES.glob("*.smk")):
        for name, block in _rule_blocks(path.read_text()):
            request = re.search(r"^\s+gpu=(.+?),?\s*$", block, re.MULTILINE)
            if not request:
                continue
            where = f"{path.name}: rule {name or '<generated>'}"
            assert name, f"{where} requests a GPU under a computed name: this scan cannot check it"
            call = ast.parse(request.group(1), mode="eval").body
            assert isinstance(call, ast.Call) and getattr(call.func, "id", None) == "gpus", (
                f"{where}: gpu={request.group(1)}; request GPUs with gpus(N) (common.smk), which is 0 below paper scale"
            )
            arg = call.args[0] if call.args else ast.Constant(1)
            count = arg.value if isinstance(arg, ast.Constant) else None
            script = re.search(r"^\s+script:\s*\n\s+\"([^\"]+)\"", block, re.MULTILINE)
            found.append(GpuRule(name, path.name, count, script.group(1) if script else None))
    return found


GPU_RULES = _gpu_rules()
GRAPH = ImportGraph(SRC)


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)
    ]


def _module_tree(module: str) -> ast.AST:
    return ast.parse(module_file(module, SRC).read_text())


def _closure_calls(entries: list[str], name: str) -> bool:
    """Whether any repro module in the import closure of ``entries`` calls ``name``."""
    return any(_calls(_module_tree(m), name) for m in GRAPH.closure(entries) if module_file(m, SRC))


def test_the_scan_finds_the_gpu_rules():
    # The GPU rules of issue 28 (a new one is checked too; a vanished one means the scan broke).
    assert {"entigraph__cpt", "ttt__train", "maskembed__vlm", "pplcorr__paper_pretrain", "ideagen__embed"} <= {
        r.name for r in GPU_RULES
    }


def test_the_step_adapter_hands_the_rules_gpus_to_run_step_which_claims_them():
    adapter = ast.parse((ROOT / "workflow/scripts/common/step.py").read_text())
    (call,) = _calls(adapter, "run_step")
    gpus = {k.arg: k.value for k in call.keywords}.get("gpus")
    assert gpus is not None and "snakemake.resources" in ast.unparse(gpus), ast.unparse(call)
    run_step = next(n for n in ast.walk(_module_tree("repro.common.steps")) if getattr(n, "name", None) == "run_step")
    claims = _calls(run_step, "claim_gpus")
    assert claims and ast.unparse(claims[0].args[0]) == "gpus", "run_step must claim the rule's gpus"
    # ... before the step function runs: the step call sits inside the claim's `with` block.
    (block,) = [
        n for n in ast.walk(run_step) if isinstance(n, ast.With) and _calls(n.items[0].context_expr, "claim_gpus")
    ]
    assert any(ast.unparse(c.func) == "fn" for c in _calls(ast.Module(body=block.body, type_ignores=[]), "fn"))


def test_every_gpu_rule_claims_devices_of_its_own():
    missing = []
    for rule in GPU_RULES:
        if rule.script == STEP_ADAPTER:
            continue  # run_step claims (test above)
        script = (RULES / rule.script).resolve() if rule.script else None
        entries = list(GRAPH.script_imports(script)) if script else []
        direct = script is not None and _calls(ast.parse(script.read_text()), "claim_gpus")
        if not (direct or _closure_calls(entries, "claim_gpus")):
            missing.append(f"{rule.name} ({rule.file}, script {rule.script})")
    assert not missing, f"GPU rules that never claim their devices (repro.common.devices.claim_gpus): {missing}"


# What starts N ranks: torchrun (as a command) or the launcher API it is built on. Importing torch.distributed is not
# enough: the trainer does (repro.common.lm.distributed, issue 29), and runs as one rank unless something launches N.
LAUNCHERS = {"torchrun", "torch.distributed.run"}
LAUNCH_CALLS = {"elastic_launch"}


def _launches(tree: ast.AST) -> bool:
    """A call of the elastic launcher, or the launcher's name as a whole string (a command's argument; a docstring
    that mentions torchrun is not one)."""
    return bool(
        LAUNCH_CALLS & {getattr(c.func, "id", None) or getattr(c.func, "attr", None) for c in _calls_all(tree)}
    ) or any(isinstance(n, ast.Constant) and n.value in LAUNCHERS for n in ast.walk(tree))


def _calls_all(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _launches_distributed(slug: str) -> bool:
    """Whether repro.<slug>.steps reaches a distributed launch: a module of its import closure starts ranks
    (torchrun, torch.distributed.run or elastic_launch)."""
    return any(_launches(_module_tree(m)) for m in GRAPH.closure([f"repro.{slug}.steps"]) if module_file(m, SRC))


def test_multi_gpu_rules_launch_a_distributed_run():
    multi = {r.name: r for r in GPU_RULES if r.count is None or r.count > 1}
    offenders = {name for name in multi if not _launches_distributed(name.split("__")[0])}
    new = sorted(offenders - set(SINGLE_DEVICE_MULTI_GPU))
    assert not new, (
        f"rules requesting more than one GPU whose step launches no distributed run (torchrun / "
        f"torch.distributed.run / elastic_launch): {new}; launch one, or request gpus(1)"
    )
    stale = sorted(set(SINGLE_DEVICE_MULTI_GPU) - offenders)
    assert not stale, f"SINGLE_DEVICE_MULTI_GPU lists rules that are no longer offenders: {stale}; remove them"
