"""YAML loading that remembers where every value came from.

An organisation admin who breaks a file must be told the file and the line, so every document is
loaded twice over: as plain Python data for the models, and as PyYAML's node tree, which knows the
line of every key and value. Problems found later (by pydantic or by cross-file checks) are mapped
back to a line by walking the node tree along the same path as the data.

The loader also understands SATOSA's ``!ENV`` / ``!ENVFILE`` tags and ``${NAME}`` /
``${NAME:-default}`` references inside strings, and refuses duplicate keys, which PyYAML would
otherwise silently resolve to the last one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Problem:
    """One finding of check-config: printed as ``file:line: message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(Exception):
    """A configuration that must not be used; carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and resolves environment references."""

    problems: list[Problem]
    display_name: str
    base_dir: Path


def _problem(loader: _LineLoader, node: yaml.Node, message: str) -> None:
    loader.problems.append(Problem(loader.display_name, node.start_mark.line + 1, message))


def _interpolate(loader: _LineLoader, node: yaml.Node, value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        resolved = os.environ.get(name, default)
        if resolved is None:
            _problem(
                loader, node, f"environment variable {name} is not set (referenced as ${{{name}}})"
            )
            return ""
        return resolved

    return _REFERENCE.sub(replace, value)


def _construct_str(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    return _interpolate(loader, node, loader.construct_scalar(node))


def _construct_env(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    name = loader.construct_scalar(node)
    value = os.environ.get(name)
    if value is None:
        _problem(loader, node, f"environment variable {name} is not set (!ENV {name})")
        return ""
    return value


def _construct_envfile(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    name = loader.construct_scalar(node)
    path = os.environ.get(name)
    if path is None:
        _problem(loader, node, f"environment variable {name} is not set (!ENVFILE {name})")
        return ""
    try:
        return Path(path).read_text()
    except OSError as exc:
        _problem(loader, node, f"cannot read {path} named by !ENVFILE {name}: {exc.strerror}")
        return ""


def _construct_file(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    """``!FILE keys/state.key``: a secret kept in a file beside the configuration, not in it."""
    name = _interpolate(loader, node, loader.construct_scalar(node))
    path = loader.base_dir / name
    try:
        return path.read_text().strip()
    except OSError as exc:
        _problem(loader, node, f"cannot read {path} named by !FILE: {exc.strerror}")
        return ""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            first = seen[key].start_mark.line + 1
            _problem(loader, key_node, f"duplicate key '{key}' (first defined on line {first})")
        else:
            seen[key] = key_node
    return loader.construct_mapping(node, deep=True)


_LineLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)
_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("!ENV", _construct_env)
_LineLoader.add_constructor("!ENVFILE", _construct_envfile)
_LineLoader.add_constructor("!FILE", _construct_file)
_LineLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: tuple(loader.construct_sequence(node))
)


@dataclass
class Document:
    """A loaded YAML file: its data, its node tree, and the problems found while reading it."""

    path: Path
    display_name: str
    data: Any
    node: yaml.Node | None
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, loc: Iterable[Any]) -> int:
        """Line of the value at ``loc`` (keys and list indexes), or of its nearest parent."""
        node = self.node
        if node is None:
            return 1
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1

    def problem(self, loc: Iterable[Any], message: str) -> Problem:
        return Problem(self.display_name, self.line_of(loc), message)


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == str(part):
                return value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def load_document(
    path: Path, display_name: str | None = None, base_dir: Path | None = None
) -> Document:
    """Read one YAML file; syntax errors and unreadable files become problems, not exceptions.

    ``base_dir`` is where relative ``!FILE`` names are looked up (the configuration directory).
    """
    path = Path(path)
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Document(path, name, None, None, [Problem(name, 1, "file not found")])
    except (OSError, UnicodeDecodeError) as exc:
        return Document(path, name, None, None, [Problem(name, 1, f"cannot read file: {exc}")])
    return parse_document(text, path, name, base_dir or path.parent)


def parse_document(text: str, path: Path, display_name: str, base_dir: Path) -> Document:
    loader = _LineLoader(text)
    loader.problems = []
    loader.display_name = display_name
    loader.base_dir = Path(base_dir)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        return Document(path, display_name, None, None, [Problem(display_name, line, message)])
    except yaml.YAMLError as exc:
        return Document(path, display_name, None, None, [Problem(display_name, 1, str(exc))])
    finally:
        loader.dispose()
    return Document(path, display_name, data, node, list(loader.problems))
