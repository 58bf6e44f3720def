"""Holds ``docs/architecture/layout.md`` against the code: its tables say which of our folders (and which modules
inside ``api/``) each part may import; every import of every module (inside functions too) is checked."""

from __future__ import annotations

import ast
import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "architecture" / "layout.md"
TICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Rules:
    folders: dict[str, frozenset[str]]  # folder ("domain/") → the folders it may import
    inside_api: list[tuple[tuple[str, ...], frozenset[str]]]  # (module patterns, api modules they may import)

    @property
    def packages(self) -> dict[str, str]:
        """Top-level import name → its folder (``llm_api_client`` lives in ``clients/python/``)."""
        names = {folder.rstrip("/").split("/")[-1]: folder for folder in self.folders if folder.count("/") == 1}
        if "clients/python/" in self.folders:
            names["llm_api_client"] = "clients/python/"
        return names


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.imported}: {self.why}"


def _table(text: str, heading: str) -> list[list[str]]:
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def read_map(text: str | None = None) -> Rules:
    text = MAP.read_text() if text is None else text
    folders = {TICKED.findall(row[0])[0]: frozenset(TICKED.findall(row[-1])) for row in _table(text, "Folders")}
    inside = [(tuple(TICKED.findall(row[0])), frozenset(TICKED.findall(row[-1])))
              for row in _table(text, "Inside `api/`")]
    return Rules(folders, inside)


def imports_of(source: str, module: str) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of every import in ``source`` (relative ones resolved against ``module``)."""
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name


def _module_path(dotted: str) -> str | None:
    """The file or folder (``api/routes/``) that a dotted name of ours stands for, as the map writes it."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ROOT.joinpath(*parts[:n])
        if candidate.with_suffix(".py").is_file():
            return "/".join(parts[:n]) + ".py"
        if candidate.is_dir():
            return "/".join(parts[:n]) + "/"
    return None


def _matches(path: str, patterns: Iterable[str]) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) or fnmatch.fnmatch(path, p) for p in patterns)


def check(path: str, source: str, rules: Rules) -> list[Violation]:
    """The imports of the module at ``path`` (relative to the repository root) that the map forbids."""
    folder = next((f for f in sorted(rules.folders, key=len, reverse=True) if path.startswith(f)), None)
    if folder is None:
        return []
    module = path.removesuffix(".py").removeprefix("clients/python/").replace("/", ".")
    own = {name for name, f in rules.packages.items() if f == folder}
    found = []
    for line, imported in imports_of(source, module):
        top = imported.split(".")[0]
        target = rules.packages.get(top)
        if target is None or top in own:
            if top == "api" and folder == "api/":
                found += _check_inside_api(path, line, imported, rules)
            continue
        if target not in rules.folders[folder]:
            found.append(Violation(path, line, imported, f"{folder} may not import {target}"))
    return found


def _check_inside_api(path: str, line: int, imported: str, rules: Rules) -> list[Violation]:
    target = _module_path(imported)
    if target is None or target in ("api/", "api/__init__.py") or _matches(target, [path]):
        return []
    for patterns, allowed in rules.inside_api:
        if _matches(path, patterns):
            if _matches(target, allowed) or (target.endswith("/") and any(a.startswith(target) for a in allowed)):
                return []
            return [Violation(path, line, imported, f"{path} may not import {target} (layout.md, inside api/)")]
    return []


def server_files(rules: Rules) -> Iterator[Path]:
    for folder in rules.folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def violations(rules: Rules | None = None) -> list[Violation]:
    rules = rules or read_map()
    found = []
    for file in server_files(rules):
        relative = file.relative_to(ROOT).as_posix()
        found += check(relative, file.read_text(), rules)
    return found
