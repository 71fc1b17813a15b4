"""The scorecard: every computed number next to its reference, and every claim with a verdict.

Each paper lists what it is compared with in ``workflow/expected/<slug>.yaml``::

    paper: obsscaling                      # the slug; the title lives in workflow/papers.yaml only
    entries:                                # numbers with a reference value
      - key: pca.explained_variance.pc1     # a key of numbers.json
        published: 0.8016                   # null: report the value, assert nothing
        tolerance: {abs: 1.0e-4}            # or {rtol: 0.01}; a list published with {set: true}
                                            # is compared as a set (e.g. selected families)
        origin: paper                       # paper: printed in the paper (table/figure);
                                            # authors_code: recomputed with the authors' code
                                            # on their released data; notes: from the paper notes, unverified
        source: "Sec. 3.2, Fig. 2 (explained variance)"
        scales: [tiny, paper]               # where the comparison is meaningful (and enforced)
        note: optional free text shown in the table
        explained:                          # optional: an understood deviation
          reason: "the authors' optimiser stops early; the converged fit matches"
          evidence: post_training.x.test_mse_converged   # required: a key that must match `published`
                                            # (a list-valued key: one of its values must match, e.g.
                                            # the outcomes of a round-off study)
    claims:                                 # qualitative claims, each with a verdict
      - name: ttt_beats_linear_attention    # numbers-free id (letters, digits, _), never renamed
        claim: "TTT-Linear beats linear attention at equal state size"
        source: "Table 1"
        scales: [tiny]
        version: 2                          # default 1; a changed criterion is a new version
        revision: "why v2 replaced v1"      # required from version 2 on
        # exactly one kind:
        criterion: "{a} < {b}"              # a deterministic check (thresholds; exact-tier facts)
        comparison:                         # a comparison judged beyond its noise
          effects: ["{la.gap.per_seed} - {ttt.gap.per_seed}"]   # lists over seeds; > 0 supports it
          unit: seed                        # or bootstrap (then `halves`: two expressions per effect)
          margin: 2                         # standard errors
          min_units: 3
          arms:                             # each compared arm above its own floor, separately
            - {arm: ttt, check: "{ttt.gap} < {no_memory.gap}"}
        untestable: "needs 16k contexts"    # UNTESTABLE, with the reason
        not_run: "what is missing"          # NOT RUN: the experiment is not implemented
        by_construction: "why"              # BY CONSTRUCTION: no verdict
        requires:                           # optional preconditions; a failed one -> UNTESTABLE
          - check: "{text.transformer.loss} < {text.ngram_floor.loss}"
            reason: "the models do not beat the count-based n-gram floor"
        disclosures: [an_id]                # disclosures that concern this claim
        history:                            # every earlier version, oldest first, as it was on main
          - {version: 1, scales: [tiny], criterion: "{ttt.gap} < {la.gap}"}
    disclosures:                            # design choices made after seeing results
      - {id: an_id, what: "epochs 4 -> 8 after a pilot", when: "commit abc1234", claims: [ttt_beats_...]}

Statuses of entries: **match** (within tolerance), **MISMATCH** (outside it, no
explanation), **EXPLAINED** (outside it, with a written reason and evidence that
matches: an explanation without evidence is refused), **reported** (no reference),
**missing** (the key was not computed), **not run** (its step, the key's first component,
is declared not run at this scale: ``not_run.<step>`` in numbers.json says what is missing;
a claim that needs such a key is NOT RUN with that reason), **n/a at this scale**. A MISMATCH or a missing
key at an enforced scale fails :func:`check_scorecard` (the workflow test and
``scorecard`` rule's ``--strict`` mode). Origins: ``paper``, ``authors_code``, ``notes``
(from the paper notes, unverified).

Verdicts of claims (issue 27): **REPRODUCED** / **NOT REPRODUCED** (a criterion true or
false; a comparison beyond its margin on >= 3 units with both disjoint halves agreeing),
**INCONCLUSIVE** (a comparison inside its noise), **UNTESTABLE** (a precondition or an
arm's floor failed, or declared: the reason is shown), **NOT RUN**, **BY CONSTRUCTION**.
Criteria are small expressions over numbers.json keys in braces, evaluated safely
(:func:`evaluate_expression`): numbers, comparisons, ``and``/``or``/``not``, arithmetic,
``abs``/``min``/``max``; effects element by element over lists.

Pre-registration: every version's criterion fields are fingerprinted in
``workflow/expected/<slug>.lock.json`` (append-only; ``python -m repro.common.scorecard
lock <slug>``); a test fails when a locked version changes or goes. The README's verdict
block is generated from the scorecard (``python -m repro.common.scorecard readme``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import operator
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repro.common.io import read_json, read_yaml

MATCH, MISMATCH, EXPLAINED = "match", "MISMATCH", "EXPLAINED"
MISSING, REPORTED, NOT_AT_SCALE = "missing", "reported", "n/a at this scale"
# A number whose step is declared not run at this scale (``not_run.<step>`` in numbers.json, issue 28); lower
# case like the other number statuses, so the totals never mix it with the claim verdict NOT RUN.
NUMBER_NOT_RUN = "not run"
REPRODUCED, NOT_REPRODUCED, UNTESTABLE = "REPRODUCED", "NOT REPRODUCED", "UNTESTABLE"
INCONCLUSIVE, NOT_RUN, BY_CONSTRUCTION = "INCONCLUSIVE", "NOT RUN", "BY CONSTRUCTION"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, UNTESTABLE, NOT_RUN, BY_CONSTRUCTION)
ORIGINS = {
    "paper": "paper",
    "authors_code": "authors' code on released data",
    "notes": "notes - unverified",  # from the paper notes, not checked against the paper itself
}
FAILING = (MISMATCH, MISSING)


class ExpectedError(ValueError):
    """An expected-numbers file is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class Explanation:
    """Why a reference is not met, and the key whose value shows the understood cause."""

    reason: str
    evidence: str | None = None

    def holds(self, entry: Expected, numbers: Mapping[str, Any]) -> bool:
        """The evidence shows the cause: its value (or one value of a list of numbers) matches the reference."""
        if self.evidence is None:
            return True
        value = numbers.get(self.evidence)
        if isinstance(value, list) and not isinstance(entry.published, tuple):
            return any(entry.within(v) for v in value)
        return entry.within(value)

    def show(self, entry: Expected, numbers: Mapping[str, Any]) -> str:
        """The evidence as the scorecard prints it (a list: how many of its values match, and their range)."""
        if self.evidence is None:
            return ""
        value = numbers.get(self.evidence)
        if isinstance(value, list) and value and not isinstance(entry.published, tuple):
            hits = sum(entry.within(v) for v in value)
            shown = f"{hits} of {len(value)} within tolerance, range {_fmt(min(value))}-{_fmt(max(value))}"
        else:
            shown = _fmt(value)
        return f" (evidence: `{self.evidence}` = {shown})"


@dataclass(frozen=True)
class Expected:
    """One reference number and how to compare with it."""

    key: str
    published: float | tuple[str, ...] | None
    source: str
    scales: tuple[str, ...]
    abs_tol: float | None = None
    rtol: float | None = None
    note: str = ""
    origin: str = "paper"
    explained: Explanation | None = None

    def within(self, value: Any) -> bool:
        """True when ``value`` matches the published value within tolerance (a set: equal as sets)."""
        assert self.published is not None
        if isinstance(self.published, tuple):
            return isinstance(value, (list, tuple)) and set(map(str, value)) == set(self.published)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        diff = abs(float(value) - self.published)
        if self.abs_tol is not None and diff <= self.abs_tol:
            return True
        if self.rtol is not None and diff <= self.rtol * abs(self.published):
            return True
        return False


@dataclass(frozen=True)
class Requirement:
    """A precondition of a claim: when ``check`` is false the claim is UNTESTABLE for ``reason``."""

    check: str
    reason: str


@dataclass(frozen=True)
class Arm:
    """One compared arm and the check that it beats its own floor (a failed one makes the claim UNTESTABLE)."""

    arm: str
    check: str


@dataclass(frozen=True)
class Comparison:
    """A comparison judged beyond its noise (issue 27): effects over seeds or bootstrap replicates.

    Each effect is an expression whose value is a list (one value per seed, or per bootstrap
    replicate), > 0 supporting the claim. Its standard error is sd/sqrt(n) over seeds, or the
    replicates' sd; it counts only beyond ``margin`` standard errors and when the two disjoint
    halves (of the seeds, or ``halves`` for a bootstrap) agree in sign; otherwise INCONCLUSIVE.
    """

    effects: tuple[str, ...]
    unit: str = "seed"
    margin: float = 2.0
    min_units: int = 3
    halves: tuple[tuple[str, str], ...] = ()
    arms: tuple[Arm, ...] = ()


@dataclass(frozen=True)
class ClaimVersion:
    """One version of a claim's test: its kind, expressions, preconditions and scales.

    Exactly one kind: ``criterion`` (a deterministic check), ``comparison`` (beyond noise),
    ``untestable`` (reason), ``not_run`` (what is missing) or ``by_construction`` (why; no verdict).
    """

    version: int
    scales: tuple[str, ...]
    criterion: str | None = None
    comparison: Comparison | None = None
    requires: tuple[Requirement, ...] = ()
    untestable: str | None = None
    not_run: str | None = None
    by_construction: str | None = None
    revision: str = ""  # why this version replaced the one before (versions >= 2)

    @property
    def kind(self) -> str:
        """Which of the five kinds this version is."""
        for kind in ("untestable", "not_run", "by_construction", "comparison", "criterion"):
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("a claim version without a kind")  # the parser refuses these

    def fingerprint(self) -> str:
        """sha256 of what pre-registration freezes: kind, expressions, precondition checks, scales.

        Texts (the claim, reasons, notes) are not part of it: rewording them is not a new criterion.
        """
        cmp = self.comparison
        payload = {
            "kind": self.kind,
            "scales": list(self.scales),
            "criterion": self.criterion,
            "comparison": None
            if cmp is None
            else {
                "effects": list(cmp.effects),
                "unit": cmp.unit,
                "margin": cmp.margin,
                "min_units": cmp.min_units,
                "halves": [list(h) for h in cmp.halves],
                "arms": [[a.arm, a.check] for a in cmp.arms],
            },
            "requires": [r.check for r in self.requires],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """One qualitative claim of the paper: its current test and every earlier version (oldest first)."""

    name: str
    claim: str
    source: str
    current: ClaimVersion
    history: tuple[ClaimVersion, ...] = ()
    note: str = ""
    disclosures: tuple[str, ...] = ()

    # The current version's fields, for callers that read a claim as one test.
    @property
    def scales(self) -> tuple[str, ...]:
        return self.current.scales

    @property
    def criterion(self) -> str | None:
        return self.current.criterion

    @property
    def requires(self) -> tuple[Requirement, ...]:
        return self.current.requires

    @property
    def untestable(self) -> str | None:
        return self.current.untestable

    @property
    def versions(self) -> tuple[ClaimVersion, ...]:
        """Every version, oldest first, the current one last."""
        return (*self.history, self.current)


@dataclass(frozen=True)
class Disclosure:
    """A design choice made after seeing results, and the claims it may have affected."""

    id: str
    what: str
    when: str
    claims: tuple[str, ...] = ()


@dataclass
class PaperExpected:
    """The parsed ``workflow/expected/<slug>.yaml`` (its title is the registry's, :attr:`Registry.titles`)."""

    slug: str
    entries: list[Expected] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    disclosures: list[Disclosure] = field(default_factory=list)


# --- criteria --------------------------------------------------------------------------------

_KEY = re.compile(r"\{([^{}]+)\}")
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_CMPOPS = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCS = {"abs": abs, "min": min, "max": max}


def expression_keys(expr: str) -> list[str]:
    """The numbers.json keys an expression reads (the ``{...}`` placeholders)."""
    return _KEY.findall(expr)


def _elementwise_min(*args: Any) -> Any:
    return functools.reduce(np.minimum, args)


def _elementwise_max(*args: Any) -> Any:
    return functools.reduce(np.maximum, args)


_ELEMENTWISE_FUNCS = {"abs": np.abs, "min": _elementwise_min, "max": _elementwise_max}


def evaluate_expression(expr: str, numbers: Mapping[str, Any], *, elementwise: bool = False) -> Any:
    """Evaluate a criterion such as ``"{a.b} < 0.9 * {c}"`` over ``numbers`` (safe subset of Python).

    With ``elementwise``, list values (per seed, per bootstrap replicate) become arrays and the
    arithmetic works element by element (a scalar broadcasts; lists of unequal length raise
    :class:`ExpectedError`); the result is a 1-D float array. A key that is missing from
    ``numbers`` raises :class:`KeyError` naming it.
    """
    names: dict[str, Any] = {}

    def _sub(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        if key not in numbers or numbers[key] is None:
            raise KeyError(key)
        var = f"_v{len(names)}"
        value = numbers[key]
        if elementwise:
            if isinstance(value, (list, tuple)) and not value:
                raise KeyError(key)  # an empty list: nothing was computed
            value = np.asarray(value, dtype=float)
        names[var] = value
        return var

    tree = ast.parse(_KEY.sub(_sub, expr), mode="eval")

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool, str)):
            return node.value
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        if isinstance(node, ast.BoolOp):
            vals = [ev(v) for v in node.values]
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not ev(node.operand)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp)
                if type(op) not in _CMPOPS or not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            funcs = _ELEMENTWISE_FUNCS if elementwise else _FUNCS
            return funcs[node.func.id](*[ev(a) for a in node.args])
        raise ExpectedError(f"criterion {expr!r}: unsupported expression {ast.dump(node)[:60]}")

    if not elementwise:
        return ev(tree)
    try:
        return np.atleast_1d(np.asarray(ev(tree), dtype=float))
    except ValueError as err:  # lists of different lengths (seeds missing in one arm)
        raise ExpectedError(f"effect {expr!r}: lists of unequal length ({err})") from None


def _check_expression(expr: Any, where: str) -> str:
    if not isinstance(expr, str) or not expr.strip():
        raise ExpectedError(f"{where}: needs an expression string")
    try:
        evaluate_expression(expr, {k: 1.0 for k in expression_keys(expr)})
    except (SyntaxError, ExpectedError) as err:
        raise ExpectedError(f"{where}: {err}") from None
    except (TypeError, ZeroDivisionError, ValueError):
        pass  # fine: only the syntax is checked here
    return expr


# --- parsing --------------------------------------------------------------------------------

_ENTRY_FIELDS = {"key", "published", "source", "scales", "tolerance", "note", "origin", "explained"}
_KINDS = ("criterion", "comparison", "untestable", "not_run", "by_construction")
_VERSION_FIELDS = {"version", "scales", "requires", "revision", *_KINDS}
_CLAIM_FIELDS = {"name", "claim", "source", "note", "history", "disclosures", *_VERSION_FIELDS}
_COMPARISON_FIELDS = {"effects", "unit", "margin", "min_units", "halves", "arms"}
_DISCLOSURE_FIELDS = {"id", "what", "when", "claims"}


def _parse_entry(e: Mapping[str, Any], where: str) -> Expected:
    for req in ("key", "published", "source", "scales"):
        if req not in e:
            raise ExpectedError(f"{where}: missing {req!r}")
    unknown = set(e) - _ENTRY_FIELDS
    if unknown:
        raise ExpectedError(f"{where}: unknown field(s) {sorted(unknown)}")
    tol = e.get("tolerance") or {}
    published: float | tuple[str, ...] | None
    if isinstance(e["published"], list):
        if tol != {"set": True}:
            raise ExpectedError(f"{where} ({e['key']}): a published list needs tolerance {{set: true}}")
        published = tuple(str(x) for x in e["published"])
    elif e["published"] is None:
        published = None
    else:
        if not ({"abs", "rtol"} & set(tol)):
            raise ExpectedError(f"{where} ({e['key']}): a published value needs tolerance.abs or tolerance.rtol")
        published = float(e["published"])
    if e["published"] is not None:
        if e.get("origin") not in ORIGINS:
            raise ExpectedError(f"{where} ({e['key']}): origin must be one of {sorted(ORIGINS)}")
    explained = None
    if e.get("explained") is not None:
        ex = e["explained"]
        if (
            not isinstance(ex, Mapping)
            or not isinstance(ex.get("reason"), str)
            or set(ex) - {"reason", "evidence"}
            or not isinstance(ex.get("evidence", ""), str)
        ):
            raise ExpectedError(f"{where} ({e['key']}): explained needs {{reason: text, evidence: key}}")
        # A reason alone is a story: the contract asks for a number that shows the cause (issue 27).
        if not ex.get("evidence"):
            raise ExpectedError(
                f"{where} ({e['key']}): explained needs `evidence:` (a numbers key whose value itself matches "
                "the published value); a reason without evidence is not an explanation"
            )
        explained = Explanation(reason=ex["reason"], evidence=ex["evidence"])
    return Expected(
        key=str(e["key"]),
        published=published,
        source=str(e["source"]),
        scales=tuple(e["scales"]),
        abs_tol=tol.get("abs"),
        rtol=tol.get("rtol"),
        note=str(e.get("note", "")),
        origin=str(e.get("origin", "paper")),
        explained=explained,
    )


def _parse_comparison(c: Any, where: str) -> Comparison:
    if not isinstance(c, Mapping):
        raise ExpectedError(f"{where}: comparison needs a mapping with `effects`")
    unknown = set(c) - _COMPARISON_FIELDS
    if unknown:
        raise ExpectedError(f"{where}: comparison: unknown field(s) {sorted(unknown)}")
    effects = c.get("effects")
    if isinstance(effects, str):
        effects = [effects]
    if not isinstance(effects, list) or not effects:
        raise ExpectedError(f"{where}: comparison needs `effects`: a list of expressions (> 0 supports the claim)")
    effects = [_check_expression(x, f"{where}.comparison.effects[{i}]") for i, x in enumerate(effects)]
    unit = c.get("unit", "seed")
    if unit not in ("seed", "bootstrap"):
        raise ExpectedError(f"{where}: comparison.unit must be seed or bootstrap, not {unit!r}")
    halves: list[tuple[str, str]] = []
    if unit == "bootstrap":
        raw = c.get("halves")
        if not isinstance(raw, list) or len(raw) != len(effects):
            raise ExpectedError(
                f"{where}: a bootstrap comparison needs `halves`: per effect, two expressions (the effect on two "
                "disjoint halves of the data)"
            )
        for i, h in enumerate(raw):
            if not isinstance(h, list) or len(h) != 2:
                raise ExpectedError(f"{where}: comparison.halves[{i}] needs exactly two expressions")
            halves.append(tuple(_check_expression(x, f"{where}.comparison.halves[{i}]") for x in h))  # type: ignore[misc]
    elif c.get("halves") is not None:
        raise ExpectedError(f"{where}: comparison.halves is for unit: bootstrap (seeds are split in halves)")
    margin = c.get("margin", 2.0)
    min_units = c.get("min_units", 3)
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or margin < 0:
        raise ExpectedError(f"{where}: comparison.margin must be a non-negative number of standard errors")
    if not isinstance(min_units, int) or isinstance(min_units, bool) or min_units < 3:
        raise ExpectedError(f"{where}: comparison.min_units must be an integer >= 3 (two halves need it)")
    arms = []
    for j, arm in enumerate(c.get("arms") or []):
        if not isinstance(arm, Mapping) or set(arm) != {"arm", "check"}:
            raise ExpectedError(f"{where}: comparison.arms[{j}] needs exactly {{arm, check}}")
        arms.append(Arm(str(arm["arm"]), _check_expression(arm["check"], f"{where}.comparison.arms[{j}].check")))
    return Comparison(
        effects=tuple(effects),
        unit=unit,
        margin=float(margin),
        min_units=min_units,
        halves=tuple(halves),
        arms=tuple(arms),
    )


def _parse_version(c: Mapping[str, Any], where: str, name: str, *, default_version: int | None) -> ClaimVersion:
    if "scales" not in c:
        raise ExpectedError(f"{where} ({name}): missing 'scales'")
    version = c.get("version", default_version)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ExpectedError(f"{where} ({name}): `version` must be an integer >= 1")
    kinds = [k for k in _KINDS if c.get(k) is not None]
    if len(kinds) != 1:
        raise ExpectedError(
            f"{where} ({name}): needs exactly one of criterion, comparison, untestable (reason), not_run (what is "
            f"missing) or by_construction (why); found {kinds or 'none'}"
        )
    for text_kind in ("untestable", "not_run", "by_construction"):
        if c.get(text_kind) is not None and (not isinstance(c[text_kind], str) or not c[text_kind].strip()):
            raise ExpectedError(f"{where} ({name}): {text_kind} needs the reason as text")
    revision = c.get("revision") or ""
    if version > 1 and not (isinstance(revision, str) and revision.strip()):
        raise ExpectedError(f"{where} ({name}): version {version} needs `revision:` (why it replaced the one before)")
    requires = []
    for j, r in enumerate(c.get("requires") or []):
        if not isinstance(r, Mapping) or set(r) != {"check", "reason"}:
            raise ExpectedError(f"{where}.requires[{j}]: needs exactly {{check, reason}}")
        requires.append(Requirement(_check_expression(r["check"], f"{where}.requires[{j}].check"), str(r["reason"])))
    return ClaimVersion(
        version=version,
        scales=tuple(c["scales"]),
        criterion=None if c.get("criterion") is None else _check_expression(c["criterion"], f"{where}.criterion"),
        comparison=None if c.get("comparison") is None else _parse_comparison(c["comparison"], where),
        requires=tuple(requires),
        untestable=c.get("untestable"),
        not_run=c.get("not_run"),
        by_construction=c.get("by_construction"),
        revision=str(revision),
    )


def _parse_claim(c: Mapping[str, Any], where: str) -> Claim:
    for req in ("name", "claim", "source", "scales"):
        if req not in c:
            raise ExpectedError(f"{where}: missing {req!r}")
    unknown = set(c) - _CLAIM_FIELDS
    if unknown:
        raise ExpectedError(f"{where}: unknown field(s) {sorted(unknown)}")
    name = str(c["name"])
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ExpectedError(f"{where}: name {c['name']!r} must be lower-case letters, digits and _")
    current = _parse_version(c, where, name, default_version=1)
    history = []
    for j, h in enumerate(c.get("history") or []):
        if not isinstance(h, Mapping):
            raise ExpectedError(f"{where} ({name}).history[{j}]: needs a mapping (an earlier version)")
        unknown = set(h) - _VERSION_FIELDS
        if unknown:
            raise ExpectedError(f"{where} ({name}).history[{j}]: unknown field(s) {sorted(unknown)}")
        if "version" not in h:
            raise ExpectedError(f"{where} ({name}).history[{j}]: needs its `version`")
        history.append(_parse_version(h, f"{where}.history[{j}]", name, default_version=None))
    numbers = [v.version for v in (*history, current)]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ExpectedError(
            f"{where} ({name}): versions must run 1, 2, ... with the current one last (history oldest first); "
            f"found {numbers}"
        )
    disclosures = c.get("disclosures") or []
    if not isinstance(disclosures, list) or not all(isinstance(d, str) for d in disclosures):
        raise ExpectedError(f"{where} ({name}): disclosures must be a list of disclosure ids")
    return Claim(
        name=name,
        claim=str(c["claim"]),
        source=str(c["source"]),
        current=current,
        history=tuple(history),
        note=str(c.get("note", "")),
        disclosures=tuple(disclosures),
    )


def _parse_disclosure(d: Any, where: str) -> Disclosure:
    if not isinstance(d, Mapping) or set(d) - _DISCLOSURE_FIELDS or not {"id", "what", "when"} <= set(d):
        raise ExpectedError(f"{where}: a disclosure needs {{id, what, when, claims (optional)}}")
    if not re.fullmatch(r"[a-z0-9_]+", str(d["id"])):
        raise ExpectedError(f"{where}: id {d['id']!r} must be lower-case letters, digits and _")
    claims = d.get("claims") or []
    if not isinstance(claims, list):
        raise ExpectedError(f"{where} ({d['id']}): claims must be a list of claim names")
    return Disclosure(id=str(d["id"]), what=str(d["what"]), when=str(d["when"]), claims=tuple(map(str, claims)))


def load_expected(path: str | os.PathLike[str]) -> PaperExpected:
    """Parse and check one expected file; malformed entries raise :class:`ExpectedError`."""
    path = Path(path)
    doc = read_yaml(path) or {}
    if "paper" not in doc:
        raise ExpectedError(f"{path}: missing top-level key 'paper'")
    # Refused by name, not as one more unknown key: a title typed here once disagreed with the registry's.
    if "title" in doc:
        raise ExpectedError(
            f"{path}: top-level key 'title' is not allowed; a paper's title lives only in the registry "
            f"(workflow/papers.yaml, papers.{doc['paper']}.title)"
        )
    unknown = set(doc) - {"paper", "entries", "claims", "disclosures"}
    if unknown:
        raise ExpectedError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    entries = [_parse_entry(e, f"{path}: entries[{i}]") for i, e in enumerate(doc.get("entries") or [])]
    claims = [_parse_claim(c, f"{path}: claims[{i}]") for i, c in enumerate(doc.get("claims") or [])]
    disclosures = [
        _parse_disclosure(d, f"{path}: disclosures[{i}]") for i, d in enumerate(doc.get("disclosures") or [])
    ]
    seen: set[str] = set()
    for c in claims:
        if c.name in seen:
            raise ExpectedError(f"{path}: claim {c.name!r} listed twice")
        seen.add(c.name)
    ids = [d.id for d in disclosures]
    if len(set(ids)) != len(ids):
        raise ExpectedError(f"{path}: a disclosure id is listed twice: {sorted(i for i in ids if ids.count(i) > 1)}")
    # Both directions name real things: a disclosure's claims exist, a claim's disclosures exist.
    for d in disclosures:
        for name in d.claims:
            if name not in seen:
                raise ExpectedError(f"{path}: disclosure {d.id!r} names claim {name!r}, which is not in claims")
    for c in claims:
        for ref in c.disclosures:
            if ref not in ids:
                raise ExpectedError(f"{path}: claim {c.name!r} names disclosure {ref!r}, which is not in disclosures")
    return PaperExpected(slug=str(doc["paper"]), entries=entries, claims=claims, disclosures=disclosures)


# --- statuses ---------------------------------------------------------------------------------


def not_run_reason(key: str, numbers: Mapping[str, Any]) -> str | None:
    """Why ``key`` was not computed, when the step that writes it (its first component, a step's numbers
    prefix) is declared not run at this scale: ``numbers["not_run.<step>"]`` (repro.common.declarations), or the
    one job of the step that writes it was left out: ``numbers["not_run.<step>.<job>..."]`` (a longer prefix of
    the key, e.g. ``not_run.fit.imdb.logreg`` for a dataset without a loader)."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):  # the most specific entry first
        reason = numbers.get("not_run." + ".".join(parts[:n]))
        if isinstance(reason, str):
            what = f"step {parts[0]!r}" if n == 1 else f"job {'.'.join(parts[:n])!r}"
            return f"{what} not run: {reason}"
    return None


def status(entry: Expected, numbers: Mapping[str, Any], scale: str) -> tuple[str, Any]:
    """(status, computed value) of one entry against a paper's numbers.json."""
    value = numbers.get(entry.key)
    if scale not in entry.scales:
        return NOT_AT_SCALE, value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if entry.key not in numbers and not_run_reason(entry.key, numbers):
            return NUMBER_NOT_RUN, None
        return MISSING, None
    if entry.published is None:
        return REPORTED, value
    if entry.within(value):
        return MATCH, value
    if entry.explained is not None and entry.explained.holds(entry, numbers):
        return EXPLAINED, value
    return MISMATCH, value


@dataclass(frozen=True)
class EffectStats:
    """One effect of a comparison: mean over units, its standard error, the halves, and the verdict."""

    expr: str
    n: int
    mean: float
    se: float
    halves: tuple[float, float] | None
    margin: float
    verdict: str

    def show(self, unit: str) -> str:
        """``effect +0.025 +- 0.034 SE (n=3 seeds), margin 2 SE = 0.068, halves +0.01 / +0.04``."""
        units = "seeds" if unit == "seed" else "bootstrap replicates"
        if self.n < 2:
            text = f"effect {self.mean:+.4g} (n={self.n} {units}: no standard error)"
        else:
            # t = mean/SE beside the margin: with few seeds 2 SE is lenient (a two-sided 5% t-test on
            # 2 df needs 4.3 SE), so a reader can apply a stricter bar from the row itself.
            t = f"t = {self.mean / self.se:.1f}" if self.se > 0 else "t = inf"
            dof = f", {self.n - 1} df" if unit == "seed" else ""
            text = (
                f"effect {self.mean:+.4g} ± {self.se:.2g} SE (n={self.n} {units}; {t}{dof}), "
                f"margin {self.margin:g} SE = {self.margin * self.se:.2g}"
            )
        if self.halves is not None:
            text += f", halves {self.halves[0]:+.4g} / {self.halves[1]:+.4g}"
        return text


def effect_stats(expr: str, comparison: Comparison, numbers: Mapping[str, Any], index: int = 0) -> EffectStats:
    """Judge one effect beyond its noise (issue 27; the house rule in DESIGN.md, "Verdicts").

    REPRODUCED when the mean exceeds ``margin`` standard errors and both disjoint halves are > 0;
    NOT REPRODUCED when it is below ``-margin`` SE and both halves are < 0; otherwise (too few
    units, inside the margin, or halves that disagree) INCONCLUSIVE. Missing keys raise KeyError.
    """
    values = evaluate_expression(expr, numbers, elementwise=True)
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        raise KeyError(expression_keys(expr)[0] if expression_keys(expr) else expr)
    mean = float(values.mean())
    if comparison.unit == "seed":
        se = float(values.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
        halves = (float(values[: n // 2].mean()), float(values[n // 2 :].mean())) if n >= 2 else None
    else:
        se = float(values.std(ddof=1)) if n >= 2 else math.nan
        lo, hi = comparison.halves[index]
        halves = (float(evaluate_expression(lo, numbers)), float(evaluate_expression(hi, numbers)))
    verdict = INCONCLUSIVE
    if n >= comparison.min_units and halves is not None and not math.isnan(se):
        if mean > comparison.margin * se and min(halves) > 0:
            verdict = REPRODUCED
        elif mean < -comparison.margin * se and max(halves) < 0:
            verdict = NOT_REPRODUCED
    return EffectStats(expr, n, mean, se, halves, comparison.margin, verdict)


def comparison_verdict(comparison: Comparison, numbers: Mapping[str, Any]) -> tuple[str, str]:
    """(verdict, detail) of a comparison: each arm above its own floor, then every effect beyond its noise.

    Several effects (e.g. one per target domain) combine as a conjunction: any NOT REPRODUCED ->
    NOT REPRODUCED, else any INCONCLUSIVE -> INCONCLUSIVE, else REPRODUCED.
    """
    for arm in comparison.arms:
        if not evaluate_expression(arm.check, numbers):
            return UNTESTABLE, f"arm {arm.arm} does not beat its floor (failed: {_show(arm.check, numbers)})"
    stats = [effect_stats(e, comparison, numbers, i) for i, e in enumerate(comparison.effects)]
    verdicts = {s.verdict for s in stats}
    verdict = NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE if INCONCLUSIVE in verdicts else REPRODUCED
    parts = []
    for s in stats:
        why = ""
        if s.verdict == INCONCLUSIVE:
            if s.n < comparison.min_units:
                why = f" — {s.n} {'seed' if comparison.unit == 'seed' else 'replicate'}{'s' if s.n != 1 else ''} < {comparison.min_units}"
            elif abs(s.mean) <= s.margin * s.se:
                why = " — inside the margin"
            else:
                why = " — the halves disagree"
        parts.append(f"{_show(s.expr, {})}: {s.show(comparison.unit)}: {s.verdict}{why}")
    return verdict, "; ".join(parts)


def version_verdict(version: ClaimVersion, numbers: Mapping[str, Any], scale: str) -> tuple[str, str]:
    """(verdict, detail) of one version of a claim at ``scale``.

    REPRODUCED / NOT REPRODUCED / INCONCLUSIVE (a comparison inside its noise), UNTESTABLE (declared,
    or a precondition or an arm's floor failed: the reason is shown), NOT RUN (the experiment is not
    implemented: what is missing), BY CONSTRUCTION (no verdict), or n/a at this scale / missing.
    """
    if scale not in version.scales:
        return NOT_AT_SCALE, ""
    if version.untestable is not None:
        return UNTESTABLE, str(version.untestable)
    if version.not_run is not None:
        return NOT_RUN, str(version.not_run)
    if version.by_construction is not None:
        return BY_CONSTRUCTION, str(version.by_construction)
    try:
        for req in version.requires:
            if not evaluate_expression(req.check, numbers):
                return UNTESTABLE, f"{req.reason} (failed: {_show(req.check, numbers)})"
        if version.comparison is not None:
            return comparison_verdict(version.comparison, numbers)
        assert version.criterion is not None
        ok = evaluate_expression(version.criterion, numbers)
    except KeyError as err:
        reason = not_run_reason(str(err.args[0]), numbers)
        if reason is not None:
            return NOT_RUN, reason
        return MISSING, f"key {err.args[0]!r} not computed"
    return (REPRODUCED if ok else NOT_REPRODUCED), _show(version.criterion, numbers)


def claim_verdict(claim: Claim, numbers: Mapping[str, Any], scale: str) -> tuple[str, str]:
    """(verdict, detail) of a claim's current version (see :func:`version_verdict`)."""
    return version_verdict(claim.current, numbers, scale)


def _show(expr: str, numbers: Mapping[str, Any]) -> str:
    """The expression with each key's value shown beside it (with no numbers: the keys alone)."""
    if not numbers:
        return _KEY.sub(lambda m: m.group(1), expr)
    return _KEY.sub(lambda m: f"{m.group(1)} = {_fmt(numbers.get(m.group(1).strip()))}", expr)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        v = float(v)
        if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4):
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v)


def _tol(e: Expected) -> str:
    if isinstance(e.published, tuple):
        return "as a set"
    parts = []
    if e.abs_tol is not None:
        parts.append(f"±{e.abs_tol:g}")
    if e.rtol is not None:
        parts.append(f"rtol {e.rtol:g}")
    return " or ".join(parts) or "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass
class Scorecard:
    """The evaluated scorecard of one scale: rows per paper, totals, and the failing rows."""

    scale: str
    markdown: str
    totals: dict[str, int]
    failures: list[str]
    claims: dict[str, dict[str, Any]]  # slug.name -> {verdict, detail, version, history}
    papers: dict[str, dict[str, int]] = field(default_factory=dict)  # slug -> status/verdict -> count
    disclosures: dict[str, list[Disclosure]] = field(default_factory=dict)  # slug -> its disclosures


def evaluate_scorecard(
    scale: str,
    numbers_files: Mapping[str, str | os.PathLike[str] | Mapping[str, Any]],
    expected_files: Sequence[str | os.PathLike[str]],
    *,
    titles: Mapping[str, str],
) -> Scorecard:
    """Compare every paper's numbers.json with its expected file.

    ``numbers_files`` maps slug -> numbers.json, or slug -> the numbers themselves (as read back
    from a committed metrics.json); ``expected_files`` are the
    ``workflow/expected/*.yaml`` files; ``titles`` maps slug -> title, the registry's
    (:attr:`repro.common.registry.Registry.titles`), the only place a title is typed.
    A paper with expectations but no numbers file is listed as not run, so nothing is
    silently dropped; an expected file of a paper without a title is refused.
    """
    lines = [f"# Scorecard ({scale} scale)", ""]
    lines.append(
        "Numbers: **match** within tolerance; **MISMATCH** outside it (fails the workflow test); **EXPLAINED** "
        "outside it for a written, evidenced reason (never a pass); **reported** computed, no reference; "
        "**n/a at this scale** the comparison is only meaningful at another scale; **missing** not computed; "
        "**not run** its step is declared not run at this scale (the note says what is missing). "
        "Reference origin: *paper* (a table or figure) or *authors' code on released data* (a recomputation). "
        "Reference origin *notes - unverified*: from the paper notes, not checked against the paper. "
        "Claims: **REPRODUCED** / **NOT REPRODUCED** by the written criterion, a comparison only beyond its noise "
        "(mean effect over >= 3 seeds or bootstrap replicates beyond its margin in standard errors, the same sign on "
        "two disjoint halves, every compared arm above its own floor); **INCONCLUSIVE** inside the noise; "
        "**UNTESTABLE** with the reason; **NOT RUN** the experiment is not implemented (what is missing); "
        "**BY CONSTRUCTION** holds by construction of the setup (no verdict). A criterion is never edited in place: "
        "a revision is a new version, and every earlier version is listed (superseded) with what it gives on "
        "the same numbers. Disclosures list choices made after seeing results."
    )
    lines.append("")
    if scale == "paper_toy":
        lines.append(
            "**Rehearsal scale** (`paper_toy`, issue 28): the paper-scale settings and code paths with local "
            "stand-ins for hub models, datasets and APIs, and CPU-sized tensors. Its numbers mean nothing and are "
            "compared with nothing (every row is n/a at this scale); that every paper-scale step ran is the point. "
            "A step that cannot run here yet is listed under `not_run.<step>` in its paper's numbers.json."
        )
        lines.append("")
    totals: dict[str, int] = {}
    failures: list[str] = []
    verdicts: dict[str, dict[str, Any]] = {}
    papers: dict[str, dict[str, int]] = {}
    disclosed: dict[str, list[Disclosure]] = {}
    for path in sorted(expected_files, key=lambda p: Path(p).name):
        exp = load_expected(path)
        if exp.slug not in titles:
            raise ExpectedError(f"{path}: paper {exp.slug!r} has no title in the registry (workflow/papers.yaml)")
        lines.append(f"## {exp.slug}: {titles[exp.slug]}")
        lines.append("")
        disclosed[exp.slug] = list(exp.disclosures)
        if exp.slug not in numbers_files:
            lines.append(f"_Not run at {scale} scale in this invocation._")
            lines.append("")
            continue
        source = numbers_files[exp.slug]
        numbers = dict(source) if isinstance(source, Mapping) else read_json(source)
        per_paper = papers.setdefault(exp.slug, {})
        not_run = {k.removeprefix("not_run."): v for k, v in numbers.items() if k.startswith("not_run.")}
        if not_run:  # steps declared not run at this scale (issue 28), each with what is missing
            lines.append(f"### Steps not run at {scale} scale")
            lines.append("")
            lines.extend(f"- `{step}`: {why}" for step, why in sorted(not_run.items()))
            lines.append("")
        if exp.claims:
            lines.append("### Claims")
            lines.append("")
            lines.append(
                "| claim | version | verdict | evidence (effect ± SE, or criterion with values) | source | note |"
            )
            lines.append("|---|---|---|---|---|---|")
            for c in exp.claims:
                verdict, detail = claim_verdict(c, numbers, scale)
                totals[verdict] = totals.get(verdict, 0) + 1
                per_paper[verdict] = per_paper.get(verdict, 0) + 1
                earlier = [(v, *version_verdict(v, numbers, scale)) for v in c.history]
                verdicts[f"{exp.slug}.{c.name}"] = {
                    "verdict": verdict,
                    "detail": detail,
                    "version": c.current.version,
                    "history": [{"version": v.version, "verdict": vv} for v, vv, _ in earlier],
                }
                text = f"**{c.name}**: {c.claim}"
                note = c.note
                if c.disclosures:
                    note = f"disclosed: {', '.join(c.disclosures)}" + (f"; {note}" if note else "")
                version = f"v{c.current.version}" + (f" ({c.current.revision})" if c.current.revision else "")
                lines.append(
                    f"| {_cell(text)} | {_cell(version)} | {verdict} | {_cell(detail)} | {_cell(c.source)} | "
                    f"{_cell(note)} |"
                )
                for v, vv, vdetail in earlier:  # every earlier version and what it gives on these numbers
                    lines.append(
                        f"| ↳ {c.name}, superseded | v{v.version} | {vv} | {_cell(vdetail)} | | {_cell(v.revision)} |"
                    )
            lines.append("")
        if exp.disclosures:
            lines.append("### Disclosures (choices made after seeing results)")
            lines.append("")
            for d in exp.disclosures:
                affected = f" Claims: {', '.join(d.claims)}." if d.claims else ""
                lines.append(f"- **{d.id}** ({d.when}): {d.what}.{affected}".replace("..", "."))
            lines.append("")
        if exp.entries:
            lines.append("### Numbers")
            lines.append("")
            lines.append("| key | computed | reference | tolerance | status | origin | source | note |")
            lines.append("|---|---|---|---|---|---|---|---|")
            for e in exp.entries:
                st, val = status(e, numbers, scale)
                totals[st] = totals.get(st, 0) + 1
                per_paper[st] = per_paper.get(st, 0) + 1
                note = e.note
                if st == NUMBER_NOT_RUN:
                    note = f"{not_run_reason(e.key, numbers)}" + (f"; {note}" if note else "")
                if st == EXPLAINED and e.explained is not None:
                    note = f"EXPLAINED: {e.explained.reason}{e.explained.show(e, numbers)}" + (
                        f"; {note}" if note else ""
                    )
                if st in FAILING:
                    failures.append(f"{exp.slug}: {e.key}: {st} (computed {_fmt(val)}, reference {_fmt(e.published)})")
                origin = ORIGINS[e.origin] if e.published is not None else "—"
                lines.append(
                    f"| `{e.key}` | {_fmt(val)} | {_fmt(e.published)} | {_tol(e)} | {st} | {origin} | "
                    f"{_cell(e.source)} | {_cell(note)} |"
                )
            lines.append("")
    summary = ", ".join(f"{v} {k}" for k, v in sorted(totals.items()))
    lines.insert(2, f"Totals: {summary or 'no entries'}.")
    lines.insert(3, "")
    return Scorecard(
        scale=scale,
        markdown="\n".join(lines) + "\n",
        totals=totals,
        failures=failures,
        claims=verdicts,
        papers=papers,
        disclosures=disclosed,
    )


def build_scorecard(
    scale: str,
    numbers_files: Mapping[str, str | os.PathLike[str]],
    expected_files: Sequence[str | os.PathLike[str]],
    *,
    titles: Mapping[str, str],
) -> str:
    """Markdown scorecard for ``scale`` (see :func:`evaluate_scorecard`)."""
    return evaluate_scorecard(scale, numbers_files, expected_files, titles=titles).markdown


def check_scorecard(card: Scorecard) -> None:
    """Raise ``AssertionError`` listing every MISMATCH or missing enforced number."""
    if card.failures:
        raise AssertionError(
            f"{len(card.failures)} scorecard failure(s) at {card.scale} scale:\n" + "\n".join(card.failures)
        )


def check_partial(
    expected: PaperExpected, numbers: Mapping[str, Any], scale: str, prefix: str = ""
) -> tuple[int, list[str]]:
    """Compare only the entries (under ``prefix``) whose key ``numbers`` has, e.g. one step's output.

    Returns (number of entries compared, failures). Unit tests use it so that the
    reference values live in ``workflow/expected/<slug>.yaml`` only, never retyped.
    """
    compared, failures = 0, []
    for e in expected.entries:
        if not e.key.startswith(prefix) or e.key not in numbers or scale not in e.scales:
            continue
        st, val = status(e, numbers, scale)
        compared += 1
        if st in FAILING:
            failures.append(f"{e.key}: {st} (computed {_fmt(val)}, reference {_fmt(e.published)})")
    return compared, failures


README_BEGIN = "<!-- verdicts:begin (generated: python -m repro.common.scorecard readme; edit nothing inside) -->"
README_END = "<!-- verdicts:end -->"


def verdict_summary(card: Scorecard) -> str:
    """The README's verdict block (issue 27, item 6): totals, a row per paper, each claim by verdict, and
    every disclosure, all from the evaluated scorecard, so the README cannot drift from it."""
    number_statuses = (MATCH, EXPLAINED, MISMATCH, REPORTED, MISSING)
    if any(NUMBER_NOT_RUN in counts for counts in card.papers.values()):
        number_statuses = (*number_statuses, NUMBER_NOT_RUN)
    total = ", ".join(f"{card.totals.get(v, 0)} {v}" for v in VERDICTS)
    numbers = ", ".join(f"{card.totals.get(st, 0)} {st}" for st in number_statuses)
    lines = [
        README_BEGIN,
        f"Claims at {card.scale} scale (`results/{card.scale}/scorecard.md`): {total}. Numbers: {numbers}.",
        "",
        "| paper | " + " | ".join(VERDICTS) + " | numbers matched |",
        "|---|" + "---|" * (len(VERDICTS) + 1),
    ]
    for slug, counts in sorted(card.papers.items()):
        matched = counts.get(MATCH, 0)
        compared = sum(counts.get(st, 0) for st in (MATCH, EXPLAINED, MISMATCH, MISSING))
        cells = " | ".join(str(counts.get(v, 0)) for v in VERDICTS)
        lines.append(f"| `{slug}` | {cells} | {matched} of {compared} |")
    lines.append("")
    for slug in sorted(card.papers):
        by_verdict: dict[str, list[str]] = {}
        for key, claim in card.claims.items():
            paper, name = key.split(".", 1)
            if paper == slug:
                by_verdict.setdefault(claim["verdict"], []).append(f"`{name}`")
        parts = [f"{v}: {', '.join(by_verdict[v])}" for v in (*VERDICTS, NOT_AT_SCALE, MISSING) if v in by_verdict]
        lines.append(f"- **{slug}**: " + ("; ".join(parts) if parts else "no claims") + ".")
    disclosures = [(slug, d) for slug, ds in sorted(card.disclosures.items()) for d in ds]
    if disclosures:
        lines.append("")
        lines.append("Disclosures (design choices made after seeing results; also in the scorecard):")
        lines.append("")
        for slug, d in disclosures:
            affected = f" Claims: {', '.join(f'`{c}`' for c in d.claims)}." if d.claims else ""
            lines.append(f"- **{slug}** `{d.id}` ({d.when}): {d.what.rstrip('.')}.{affected}")
    lines.append(README_END)
    return "\n".join(lines)


def replace_readme_block(readme: str, block: str) -> str:
    """``readme`` with the text between the verdict markers replaced by ``block`` (markers included)."""
    begin, end = readme.find(README_BEGIN), readme.find(README_END)
    if begin < 0 or end < begin:
        raise ExpectedError(f"the README has no verdict block ({README_BEGIN} ... {README_END})")
    return readme[:begin] + block + readme[end + len(README_END) :]


# --- pre-registration: the lock of criteria ---------------------------------------------------


def lock_path(expected_path: str | os.PathLike[str]) -> Path:
    """``workflow/expected/<slug>.lock.json``: the fingerprints of every claim version on main."""
    path = Path(expected_path)
    return path.with_name(f"{path.stem}.lock.json")


def lock_entries(expected: PaperExpected) -> dict[str, dict[str, str]]:
    """claim name -> {version: fingerprint} for every version in the file."""
    return {c.name: {str(v.version): v.fingerprint() for v in c.versions} for c in expected.claims}


def lock_problems(expected: PaperExpected, lock: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What breaks pre-registration (issue 27): a locked version edited in place, or removed, or a new
    version not yet locked. An empty list means the file and its lock agree."""
    problems = []
    current = lock_entries(expected)
    for name, versions in lock.items():
        for version, digest in versions.items():
            now = current.get(name, {}).get(version)
            if now is None:
                problems.append(
                    f"claim {name!r} v{version} is locked but gone from the file: a version is never deleted "
                    "(keep it under `history:`; a claim is retired with a new version, e.g. `not_run:`)"
                )
            elif now != digest:
                problems.append(
                    f"claim {name!r} v{version}: its criterion changed in place; restore it and write the change as "
                    f"version {int(version) + 1} with `revision:` (the old one moves under `history:`)"
                )
    for name, versions in current.items():
        for version in versions:
            if version not in lock.get(name, {}):
                problems.append(
                    f"claim {name!r} v{version} is not locked yet: run `python -m repro.common.scorecard lock`"
                )
    return problems


def read_lock(expected_path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """The lock next to an expected file ({} when there is none yet)."""
    path = lock_path(expected_path)
    return read_json(path).get("claims", {}) if path.exists() else {}


def update_lock(expected_path: str | os.PathLike[str]) -> list[str]:
    """Add every new claim version to the lock; refuse (ExpectedError) when a locked one changed or went.

    Returns the versions added (``name vN``).
    """
    from repro.common.io import write_json

    expected = load_expected(expected_path)
    lock = read_lock(expected_path)
    refused = [p for p in lock_problems(expected, lock) if "not locked yet" not in p]
    if refused:
        raise ExpectedError(f"{expected_path}: the lock refuses:\n" + "\n".join(refused))
    added = []
    merged = {name: dict(versions) for name, versions in lock.items()}
    for name, versions in lock_entries(expected).items():
        for version, digest in versions.items():
            if version not in merged.setdefault(name, {}):
                merged[name][version] = digest
                added.append(f"{name} v{version}")
    doc = {
        "about": "sha256 of each claim version's criterion fields (repro.common.scorecard.ClaimVersion.fingerprint); "
        "append-only: a changed criterion is a new version (issue 27, pre-registration)",
        "claims": merged,
    }
    write_json(lock_path(expected_path), doc)
    return added


def committed_scorecard(scale: str, root: str | os.PathLike[str] = ".") -> Scorecard:
    """The scorecard of ``results/<scale>/`` as committed: every paper's numbers from
    ``results/<scale>/metrics.json`` (the committed file; the per-paper numbers.json are not in git, so a
    clean clone has only this), the expected files and the registry's titles. The README's verdict block is
    generated from it."""
    from repro.common.registry import load_registry

    root = Path(root)
    expected = sorted((root / "workflow/expected").glob("*.yaml"))
    metrics = read_json(root / f"results/{scale}/metrics.json")
    numbers = {p.stem: metrics[p.stem] for p in expected if isinstance(metrics.get(p.stem), Mapping)}
    titles = load_registry(root / "workflow/papers.yaml").titles
    return evaluate_scorecard(scale, numbers, expected, titles=titles)


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m repro.common.scorecard {check FILE... | lock SLUG... | show SLUG NUMBERS [SCALE]}``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m repro.common.scorecard", description=_main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="parse expected files and compare them with their locks")
    check.add_argument("files", nargs="+")
    lock = sub.add_parser("lock", help="append new claim versions to workflow/expected/<slug>.lock.json")
    lock.add_argument("slugs", nargs="+")
    show = sub.add_parser("show", help="print one paper's scorecard section for a numbers.json")
    show.add_argument("slug")
    show.add_argument("numbers")
    show.add_argument("scale", nargs="?", default="tiny")
    readme = sub.add_parser("readme", help="rewrite README.md's verdict block from results/<scale>/")
    readme.add_argument("--scale", default="tiny")
    readme.add_argument("--check", action="store_true", help="only report whether the block is current")
    args = parser.parse_args(argv)
    if args.command == "check":
        bad = 0
        for f in args.files:
            problems = lock_problems(load_expected(f), read_lock(f))
            for p in problems:
                print(f"{f}: {p}")
            bad += len(problems)
        return 1 if bad else 0
    if args.command == "readme":
        card = committed_scorecard(args.scale)
        current = Path("README.md").read_text(encoding="utf-8")
        updated = replace_readme_block(current, verdict_summary(card))
        if args.check:
            print("README verdict block is current" if updated == current else "README verdict block differs")
            return 0 if updated == current else 1
        Path("README.md").write_text(updated, encoding="utf-8")
        return 0
    if args.command == "lock":
        for slug in args.slugs:
            added = update_lock(Path("workflow/expected") / f"{slug}.yaml")
            print(f"{slug}: locked {', '.join(added) if added else 'nothing new'}")
        return 0
    card = evaluate_scorecard(
        args.scale,
        {args.slug: args.numbers},
        [Path("workflow/expected") / f"{args.slug}.yaml"],
        titles={args.slug: args.slug},
    )
    print(card.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
