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
                                            # on their released data
        source: "Sec. 3.2, Fig. 2 (explained variance)"
        scales: [tiny, paper]               # where the comparison is meaningful (and enforced)
        note: optional free text shown in the table
        explained:                          # optional: an understood deviation
          reason: "the authors' optimiser stops early; the converged fit matches"
          evidence: post_training.x.test_mse_converged   # optional: a key that must match `published`
                                            # (a list-valued key: one of its values must match, e.g.
                                            # the outcomes of a round-off study)
    claims:                                 # qualitative claims, each with a verdict
      - name: ttt_beats_linear_attention    # numbers-free id (letters, digits, _)
        claim: "TTT-Linear beats linear attention at equal state size"
        source: "Table 1"
        scales: [tiny]
        criterion: "{recall.ttt_linear.gap} < {recall.linear_attention.gap}"
        requires:                           # optional preconditions; a failed one -> UNTESTABLE
          - check: "{text.transformer.loss} < {text.ngram_floor.loss}"
            reason: "the models do not beat the count-based n-gram floor"
        untestable: "needs 16k contexts"    # optional: never evaluated at these scales, with the reason

Statuses of entries: **match** (within tolerance), **MISMATCH** (outside it, no
explanation), **EXPLAINED** (outside it, with a written reason and, if named, evidence
that matches), **reported** (no reference), **missing** (the key was not computed),
**n/a at this scale**. A MISMATCH or a missing key at an enforced scale fails
:func:`check_scorecard` (the workflow test and ``scorecard`` rule's ``--strict`` mode).

Verdicts of claims: **REPRODUCED** (criterion true), **NOT REPRODUCED** (false),
**UNTESTABLE** (a precondition failed or the claim is declared untestable: the reason
is shown). Criteria are small expressions over numbers.json keys in braces,
evaluated safely (:func:`evaluate_expression`): numbers, comparisons, ``and``/``or``/
``not``, arithmetic, ``abs``/``min``/``max``.
"""

from __future__ import annotations

import ast
import math
import operator
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.common.io import read_json, read_yaml

MATCH, MISMATCH, EXPLAINED = "match", "MISMATCH", "EXPLAINED"
MISSING, REPORTED, NOT_AT_SCALE = "missing", "reported", "n/a at this scale"
REPRODUCED, NOT_REPRODUCED, UNTESTABLE = "REPRODUCED", "NOT REPRODUCED", "UNTESTABLE"
ORIGINS = {"paper": "paper", "authors_code": "authors' code on released data"}
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
class Claim:
    """One qualitative claim of the paper with a written, evaluable criterion."""

    name: str
    claim: str
    source: str
    scales: tuple[str, ...]
    criterion: str | None
    requires: tuple[Requirement, ...] = ()
    untestable: str | None = None
    note: str = ""


@dataclass
class PaperExpected:
    """The parsed ``workflow/expected/<slug>.yaml`` (its title is the registry's, :attr:`Registry.titles`)."""

    slug: str
    entries: list[Expected] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)


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


def evaluate_expression(expr: str, numbers: Mapping[str, Any]) -> Any:
    """Evaluate a criterion such as ``"{a.b} < 0.9 * {c}"`` over ``numbers`` (safe subset of Python).

    A key that is missing from ``numbers`` raises :class:`KeyError` naming it.
    """
    names: dict[str, Any] = {}

    def _sub(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        if key not in numbers or numbers[key] is None:
            raise KeyError(key)
        var = f"_v{len(names)}"
        names[var] = numbers[key]
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
            return _FUNCS[node.func.id](*[ev(a) for a in node.args])
        raise ExpectedError(f"criterion {expr!r}: unsupported expression {ast.dump(node)[:60]}")

    return ev(tree)


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
_CLAIM_FIELDS = {"name", "claim", "source", "scales", "criterion", "requires", "untestable", "note"}


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
            raise ExpectedError(f"{where} ({e['key']}): explained needs {{reason: text, evidence: key (optional)}}")
        explained = Explanation(reason=ex["reason"], evidence=ex.get("evidence"))
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


def _parse_claim(c: Mapping[str, Any], where: str) -> Claim:
    for req in ("name", "claim", "source", "scales"):
        if req not in c:
            raise ExpectedError(f"{where}: missing {req!r}")
    unknown = set(c) - _CLAIM_FIELDS
    if unknown:
        raise ExpectedError(f"{where}: unknown field(s) {sorted(unknown)}")
    if not re.fullmatch(r"[a-z0-9_]+", str(c["name"])):
        raise ExpectedError(f"{where}: name {c['name']!r} must be lower-case letters, digits and _")
    if c.get("criterion") is None and not c.get("untestable"):
        raise ExpectedError(f"{where} ({c['name']}): needs a criterion, or `untestable` with the reason")
    criterion = None if c.get("criterion") is None else _check_expression(c["criterion"], f"{where}.criterion")
    requires = []
    for j, r in enumerate(c.get("requires") or []):
        if not isinstance(r, Mapping) or set(r) != {"check", "reason"}:
            raise ExpectedError(f"{where}.requires[{j}]: needs exactly {{check, reason}}")
        requires.append(Requirement(_check_expression(r["check"], f"{where}.requires[{j}].check"), str(r["reason"])))
    return Claim(
        name=str(c["name"]),
        claim=str(c["claim"]),
        source=str(c["source"]),
        scales=tuple(c["scales"]),
        criterion=criterion,
        requires=tuple(requires),
        untestable=c.get("untestable"),
        note=str(c.get("note", "")),
    )


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
    unknown = set(doc) - {"paper", "entries", "claims"}
    if unknown:
        raise ExpectedError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    entries = [_parse_entry(e, f"{path}: entries[{i}]") for i, e in enumerate(doc.get("entries") or [])]
    claims = [_parse_claim(c, f"{path}: claims[{i}]") for i, c in enumerate(doc.get("claims") or [])]
    seen: set[str] = set()
    for c in claims:
        if c.name in seen:
            raise ExpectedError(f"{path}: claim {c.name!r} listed twice")
        seen.add(c.name)
    return PaperExpected(slug=str(doc["paper"]), entries=entries, claims=claims)


# --- statuses ---------------------------------------------------------------------------------


def status(entry: Expected, numbers: Mapping[str, Any], scale: str) -> tuple[str, Any]:
    """(status, computed value) of one entry against a paper's numbers.json."""
    value = numbers.get(entry.key)
    if scale not in entry.scales:
        return NOT_AT_SCALE, value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING, None
    if entry.published is None:
        return REPORTED, value
    if entry.within(value):
        return MATCH, value
    if entry.explained is not None and entry.explained.holds(entry, numbers):
        return EXPLAINED, value
    return MISMATCH, value


def claim_verdict(claim: Claim, numbers: Mapping[str, Any], scale: str) -> tuple[str, str]:
    """(verdict, detail) of one claim: REPRODUCED / NOT REPRODUCED / UNTESTABLE (reason), or n/a / missing."""
    if scale not in claim.scales:
        return NOT_AT_SCALE, ""
    if claim.untestable:
        return UNTESTABLE, str(claim.untestable)
    try:
        for req in claim.requires:
            if not evaluate_expression(req.check, numbers):
                return UNTESTABLE, f"{req.reason} (failed: {_show(req.check, numbers)})"
        assert claim.criterion is not None
        ok = evaluate_expression(claim.criterion, numbers)
    except KeyError as err:
        return MISSING, f"key {err.args[0]!r} not computed"
    return (REPRODUCED if ok else NOT_REPRODUCED), _show(claim.criterion, numbers)


def _show(expr: str, numbers: Mapping[str, Any]) -> str:
    """The expression with each key's value shown beside it."""
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
    claims: dict[str, dict[str, str]]  # slug.name -> {verdict, detail}


def evaluate_scorecard(
    scale: str,
    numbers_files: Mapping[str, str | os.PathLike[str]],
    expected_files: Sequence[str | os.PathLike[str]],
    *,
    titles: Mapping[str, str],
) -> Scorecard:
    """Compare every paper's numbers.json with its expected file.

    ``numbers_files`` maps slug -> numbers.json; ``expected_files`` are the
    ``workflow/expected/*.yaml`` files; ``titles`` maps slug -> title, the registry's
    (:attr:`repro.common.registry.Registry.titles`), the only place a title is typed.
    A paper with expectations but no numbers file is listed as not run, so nothing is
    silently dropped; an expected file of a paper without a title is refused.
    """
    lines = [f"# Scorecard ({scale} scale)", ""]
    lines.append(
        "Numbers: **match** within tolerance; **MISMATCH** outside it (fails the workflow test); **EXPLAINED** "
        "outside it for a written, evidenced reason (never a pass); **reported** computed, no reference; "
        "**n/a at this scale** the comparison is only meaningful at another scale; **missing** not computed. "
        "Reference origin: *paper* (a table or figure) or *authors' code on released data* (a recomputation). "
        "Claims: **REPRODUCED** / **NOT REPRODUCED** by the written criterion, or **UNTESTABLE** with the reason."
    )
    lines.append("")
    totals: dict[str, int] = {}
    failures: list[str] = []
    verdicts: dict[str, dict[str, str]] = {}
    for path in sorted(expected_files, key=lambda p: Path(p).name):
        exp = load_expected(path)
        if exp.slug not in titles:
            raise ExpectedError(f"{path}: paper {exp.slug!r} has no title in the registry (workflow/papers.yaml)")
        lines.append(f"## {exp.slug}: {titles[exp.slug]}")
        lines.append("")
        if exp.slug not in numbers_files:
            lines.append(f"_Not run at {scale} scale in this invocation._")
            lines.append("")
            continue
        numbers = read_json(numbers_files[exp.slug])
        if exp.claims:
            lines.append("### Claims")
            lines.append("")
            lines.append("| claim | verdict | criterion (values) | source | note |")
            lines.append("|---|---|---|---|---|")
            for c in exp.claims:
                verdict, detail = claim_verdict(c, numbers, scale)
                totals[verdict] = totals.get(verdict, 0) + 1
                verdicts[f"{exp.slug}.{c.name}"] = {"verdict": verdict, "detail": detail}
                text = f"**{c.name}**: {c.claim}"
                lines.append(f"| {_cell(text)} | {verdict} | {_cell(detail)} | {_cell(c.source)} | {_cell(c.note)} |")
            lines.append("")
        if exp.entries:
            lines.append("### Numbers")
            lines.append("")
            lines.append("| key | computed | reference | tolerance | status | origin | source | note |")
            lines.append("|---|---|---|---|---|---|---|---|")
            for e in exp.entries:
                st, val = status(e, numbers, scale)
                totals[st] = totals.get(st, 0) + 1
                note = e.note
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
    return Scorecard(scale=scale, markdown="\n".join(lines) + "\n", totals=totals, failures=failures, claims=verdicts)


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
