"""Field masks: the `fields` query parameter that trims a response (sheets(properties,protectedRanges),
spreadsheetId) and the `fields` of update requests that say which parts of an object to overwrite."""
from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError

Tree = dict  # name -> Tree | None (None: the whole value)


def parse_mask(text: str) -> Tree:
    """Parse a partial-response mask; raise the API's 400 when it does not parse."""
    pos = 0

    def error() -> ApiError:
        return ApiError(400, f"Invalid field selection {text}")

    def parse_list(depth: int) -> Tree:
        nonlocal pos
        tree: Tree = {}
        while True:
            start = pos
            while pos < len(text) and text[pos] not in ",()":
                pos += 1
            path = text[start:pos]  # no stripping: the API refuses "a, b" (its path ' b' matches nothing)
            if not path:
                raise error()
            names = [p for p in path.replace("/", ".").split(".")]
            if any(not n for n in names):
                raise error()
            sub: Tree | None = None
            if pos < len(text) and text[pos] == "(":
                pos += 1
                sub = parse_list(depth + 1)
                if pos >= len(text) or text[pos] != ")":
                    raise error()
                pos += 1
            _insert(tree, names, sub)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            if depth and pos < len(text) and text[pos] == ")":
                return tree
            if pos == len(text) and not depth:
                return tree
            raise error()

    return parse_list(0)


def _insert(tree: Tree, names: list[str], sub: Tree | None) -> None:
    node = tree
    for name in names[:-1]:
        if name in node and node[name] is None:
            return  # already the whole value
        node = node.setdefault(name, {})
    last = names[-1]
    if sub is None or node.get(last, {}) is None:
        node[last] = None
    else:
        existing = node.setdefault(last, {})
        for key, value in sub.items():
            _insert(existing, [key], value)


def apply_mask(value: Any, tree: Tree | None) -> Any:
    if tree is None or "*" in tree:
        return value
    if isinstance(value, list):
        return [apply_mask(item, tree) for item in value]
    if isinstance(value, dict):
        return {key: apply_mask(value[key], sub) for key, sub in tree.items() if key in value}
    return value


def mentions(tree: Tree | None, *names: str) -> bool:
    """Whether the mask names the path explicitly (e.g. sheets.data), not only through a parent."""
    node = tree
    for name in names:
        if not isinstance(node, dict) or name not in node:
            return False
        node = node[name]
    return True


def update_paths(fields: str) -> list[list[str]]:
    """The paths of an update request's `fields` ("title,gridProperties.frozenRowCount", "*")."""
    if not fields or not fields.strip():
        return []
    paths: list[list[str]] = []

    def walk(tree: Tree, prefix: list[str]) -> None:
        for name, sub in tree.items():
            if sub is None:
                paths.append(prefix + [name])
            else:
                walk(sub, prefix + [name])

    walk(parse_mask(fields.replace(" ", "")), [])  # FieldMask values are lenient about spaces
    return paths


def merge(target: dict, source: dict, paths: list[list[str]]) -> None:
    """Copy each path of `source` onto `target`; a path missing from `source` is cleared in `target`.

    Nested dicts of `target` on a path are copied before they change (cells share them with the snapshot
    a batchUpdate works on); values taken from `source` are shared, never changed afterwards."""
    for path in paths:
        if path == ["*"]:
            target.clear()
            target.update(copy.deepcopy(source))
            continue
        src: Any = source
        for name in path:
            src = src.get(name) if isinstance(src, dict) else None
        node = target
        for name in path[:-1]:
            child = node.get(name)
            if not isinstance(child, dict):
                if src is None:
                    node = None
                    break
                child = {}
            else:
                child = dict(child)
            node[name] = child
            node = child
        if node is None:
            continue
        if src is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = src
