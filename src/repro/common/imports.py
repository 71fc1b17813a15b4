"""The ``repro`` modules a piece of code imports, read from the source (no import is executed).

A rule's code inputs are the library files its step can execute (DESIGN.md, "Adding a paper"): every
``repro`` module the step's module imports, transitively, so that an edit to any of them reruns the step and
an edit elsewhere does not. Listing them by hand goes stale (issue 26: obsscaling's rules left out the config
module its steps read), so the workflow computes them here, at parse time.

What counts as an import, conservatively (a superset of what running the code imports):

- ``import repro.a.b`` and ``from repro.a import b`` (``b`` a submodule when ``a/b.py`` or ``a/b/`` exists),
  relative imports, and imports inside functions (lazy imports run when the function does);
- importing ``repro.a.b`` also executes ``repro/__init__.py`` and ``repro/a/__init__.py``;
- a string constant that names an existing ``repro`` module (e.g. a backend table
  ``{"tiny": "repro.common.llm.tiny"}`` read by ``importlib.import_module``).

A module named by a computed string (``importlib.import_module(f"repro.{slug}.steps")``) is invisible here:
the caller passes it as an entry (the workflow does, for the paper module a generic adapter loads).

The per-file import lists are cached under a key of each file's size and modification time, so a no-change
parse reads no source: a dry run stays cheap with 150 modules.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterable
from pathlib import Path

from repro.common.io import atomic_write_text

__all__ = ["ImportGraph", "module_file", "module_name"]

PACKAGE = "repro"
CACHE_VERSION = 1


def module_name(path: Path, src: Path) -> str:
    """Dotted name of the module at ``path`` under the source root ``src`` (a package's ``__init__.py``: its name)."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_file(name: str, src: Path) -> Path | None:
    """The file of the dotted module ``name`` under ``src`` (a package: its ``__init__.py``), or None."""
    base = src.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _parents(name: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``: the packages whose ``__init__`` an import of ``name`` executes."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


class ImportGraph:
    """Direct ``repro`` imports of every module under ``src/repro``, and their transitive closures.

    ``src`` is the folder that holds the ``repro`` package (``src/`` of the checkout). ``cache`` is an optional
    JSON file keeping each file's imports under its (size, mtime) so unchanged files are not parsed again.
    """

    def __init__(self, src: str | os.PathLike[str], cache: str | os.PathLike[str] | None = None) -> None:
        self.src = Path(src)
        self.files: dict[str, Path] = {}
        for path in sorted((self.src / PACKAGE).rglob("*.py")):
            self.files[module_name(path, self.src)] = path
        cached: dict[str, dict] = {}
        cache_path = Path(cache) if cache is not None else None
        if cache_path is not None and cache_path.is_file():
            try:
                raw = json.loads(cache_path.read_text(encoding="utf-8"))
                if raw.get("version") == CACHE_VERSION:
                    cached = raw.get("files", {})
            except (OSError, ValueError):
                cached = {}  # a corrupt cache is rebuilt, never trusted
        self.direct: dict[str, tuple[str, ...]] = {}
        entries: dict[str, dict] = {}
        changed = False
        for name, path in self.files.items():
            st = path.stat()
            stamp = [st.st_size, st.st_mtime_ns]
            hit = cached.get(name)
            if hit is not None and hit.get("stamp") == stamp:
                imports = tuple(hit["imports"])
            else:
                imports = self._parse(name, path)
                changed = True
            self.direct[name] = imports
            entries[name] = {"stamp": stamp, "imports": list(imports)}
        if cache_path is not None and (changed or set(cached) != set(entries)):
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            # atomic_write_text: a unique temporary name, so two workflows parsing at once never collide.
            atomic_write_text(cache_path, json.dumps({"version": CACHE_VERSION, "files": entries}))

    def _known(self, name: str) -> str | None:
        """``name`` if it is a module of the tree, else None."""
        return name if name in self.files else None

    def _parse(self, name: str, path: Path) -> tuple[str, ...]:
        """The ``repro`` modules that the source of module ``name`` imports directly (sorted, deduplicated)."""
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except SyntaxError as err:
            raise SyntaxError(f"{path}: {err.msg} (line {err.lineno}); its imports cannot be read") from None
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                        found.add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = package.split(".")
                    if node.level > 1:
                        base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
                    continue
                found.add(base)
                for alias in node.names:
                    # `from repro.a import b` imports the submodule repro.a.b when there is one
                    if self._known(f"{base}.{alias.name}"):
                        found.add(f"{base}.{alias.name}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if text.startswith(PACKAGE + ".") and self._known(text):
                    found.add(text)
        resolved: set[str] = set()
        for module in found:
            # `import repro.a.b.attr` never happens, but `from repro.a.b import f` gives base repro.a.b: keep only
            # names that are modules of the tree, plus the packages an import of them executes.
            while module and not self._known(module):
                module = module.rpartition(".")[0]
            if module:
                resolved.add(module)
                resolved.update(p for p in _parents(module) if self._known(p))
        resolved.discard(name)
        return tuple(sorted(resolved))

    def script_imports(self, path: str | os.PathLike[str]) -> tuple[str, ...]:
        """The ``repro`` modules a script outside the package (a workflow adapter) imports directly."""
        return self._parse("__script__", Path(path))

    def closure(self, modules: Iterable[str]) -> list[str]:
        """Every module that importing ``modules`` can execute (themselves and their packages included), sorted.

        An unknown name is a ValueError naming it (a renamed module must not silently drop out of a rule).
        """
        todo = []
        for module in modules:
            if not self._known(module):
                raise ValueError(f"no module {module!r} under {self.src / PACKAGE}")
            todo.append(module)
            todo.extend(p for p in _parents(module) if self._known(p))
        seen: set[str] = set()
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            todo.extend(self.direct[module])
        return sorted(seen)

    def files_of(self, modules: Iterable[str]) -> list[str]:
        """The source files (paths relative to the checkout, as rule inputs) of the closure of ``modules``."""
        root = self.src.parent
        out = []
        for module in self.closure(modules):
            path = self.files[module]
            out.append(str(path.relative_to(root)) if path.is_relative_to(root) else str(path))
        return out
