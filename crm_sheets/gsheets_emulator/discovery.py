"""Checks request bodies and query parameters against the official Sheets v4 discovery document.

The document is the one google-api-python-client ships (discovery_cache/documents/sheets.v4.json) or a
file given with --discovery. Messages follow the real API's wording ("Invalid JSON payload received.
Unknown name ..."), with paths in the snake_case the API uses (requests[0].update_cells).
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from .errors import ApiError

TYPE_URL = "type.googleapis.com/google.apps.sheets.v4."
# Schemas whose properties are one proto oneof: at most one may be set (the API refuses a second).
ONEOF = {"Request": "kind", "ExtendedValue": "value"}
_INT_FORMATS = {"int32": "TYPE_INT32", "int64": "TYPE_INT64", "uint32": "TYPE_UINT32"}


def default_path() -> Path:
    try:
        import googleapiclient
    except ImportError as exc:  # pragma: no cover - the gsheets and test extras install it
        raise RuntimeError("the Sheets emulator needs the discovery document of google-api-python-client: "
                           "pip install 'crm-sheets[gsheets]' or pass --discovery PATH") from exc
    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "sheets.v4.json"


@functools.lru_cache(maxsize=4096)
def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


class Discovery:
    """The schemas and methods of one discovery document, and the checks made with them."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.schemas: dict[str, dict] = document["schemas"]
        self.global_parameters: dict[str, dict] = document.get("parameters", {})
        self.methods: dict[str, dict] = {}
        self._collect(document.get("resources", {}))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Discovery":
        return cls(json.loads(Path(path or default_path()).read_text(encoding="utf-8")))

    def _collect(self, resources: dict) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                self.methods[method["id"]] = method
            self._collect(resource.get("resources", {}))

    # -- query parameters ---------------------------------------------------------------------
    def check_params(self, method_id: str, query: dict[str, list[str]]) -> None:
        declared = {name: spec for name, spec in self.methods[method_id].get("parameters", {}).items()
                    if spec.get("location") == "query"}
        declared.update(self.global_parameters)
        by_snake = {snake(name): name for name in declared}
        for raw_name, values in query.items():
            name = raw_name if raw_name in declared else by_snake.get(raw_name)
            if name is None:
                raise ApiError(400, f'Invalid JSON payload received. Unknown name "{raw_name}": Cannot bind query '
                                    f"parameter. Field '{raw_name}' could not be found in request message.")
            spec = declared[name]
            if len(values) > 1 and not spec.get("repeated"):
                raise ApiError(400, f"Invalid JSON payload received. Field '{raw_name}' is not repeated "
                                    f"but was given {len(values)} times.")
            for value in values:
                self._check_param_value(snake(name), spec, value)

    @staticmethod
    def _check_param_value(name: str, spec: dict, value: str) -> None:
        kind = spec.get("type")
        ok = True
        if kind == "boolean":
            ok = value in ("true", "false", "True", "False", "1", "0")
        elif kind == "integer":
            ok = re.fullmatch(r"-?\d+", value) is not None
        elif "enum" in spec:
            ok = value in spec["enum"]
        if not ok:
            label = "TYPE_ENUM" if "enum" in spec else {"boolean": "TYPE_BOOL", "integer": "TYPE_INT32"}.get(kind, "TYPE_STRING")
            raise ApiError(400, f'Invalid value at \'{name}\' ({label}), "{value}"')

    # -- field masks ------------------------------------------------------------------------------
    def response_schema(self, method_id: str) -> str | None:
        response = self.methods[method_id].get("response")
        return response["$ref"] if response else None

    def check_mask(self, ref: str, tree: dict | None, prefix: str = "") -> str | None:
        """The first path of a parsed mask that `ref` has no field for, or None."""
        if tree is None:
            return None
        properties = self.schemas[ref].get("properties", {})
        for name, sub in tree.items():
            path = f"{prefix}.{name}" if prefix else name
            if name == "*":
                continue
            spec = properties.get(name)
            if spec is None:
                return _first_leaf(path, sub)  # the API names the whole path it could not expand
            while spec.get("type") == "array":
                spec = spec.get("items", {})
            if sub is not None:
                if "$ref" not in spec:
                    if spec.get("type") == "object" and spec.get("additionalProperties"):
                        continue
                    return f"{path}.{next(iter(sub))}"
                bad = self.check_mask(spec["$ref"], sub, path)
                if bad:
                    return bad
        return None

    # -- bodies -------------------------------------------------------------------------------
    def request_schema(self, method_id: str) -> str | None:
        request = self.methods[method_id].get("request")
        return request["$ref"] if request else None

    def check_body(self, method_id: str, body: Any) -> None:
        """Raise the API's 400 for the first problem of `body`; every problem found is in the details."""
        ref = self.request_schema(method_id)
        if ref is None:
            return
        problems = self.problems(body, {"$ref": ref})
        if problems:
            message = "\n".join(text for _, text in problems)
            details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": field, "description": text} for field, text in problems]}]
            raise ApiError(400, message, details=details)

    def problems(self, value: Any, schema: dict, path: str = "") -> list[tuple[str, str]]:
        """(field path, message) for each place where `value` does not fit `schema`."""
        found: list[tuple[str, str]] = []
        self._check(value, schema, (path,) if path else None, found)
        return found

    # Paths are built only when a problem is found: a 100k-row updateCells has millions of nodes.
    # A path is a linked tuple (parent, name) or (parent, index) rendered by _path.
    def _check(self, value: Any, schema: dict, path: Any, found: list) -> None:
        ref = schema.get("$ref")
        if ref is not None:
            self._check_object(value, ref, path, found)
            return
        kind = schema.get("type")
        if kind == "any" or kind is None:
            return
        if kind == "array":
            if not isinstance(value, list):
                found.append(_problem(path, f"Invalid value at '{_path(path)}' (list), {_show(value)}"))
                return
            items = schema.get("items", {})
            if "$ref" in items:
                ref = items["$ref"]
                for i, item in enumerate(value):
                    self._check_object(item, ref, (path, i), found)
            else:
                for i, item in enumerate(value):
                    self._check(item, items, (path, i), found)
            return
        if kind == "object":
            if not isinstance(value, dict):
                found.append(_problem(path, f"Invalid value at '{_path(path)}' (map), {_show(value)}"))
                return
            extra = schema.get("additionalProperties")
            if extra:
                for key, item in value.items():
                    self._check(item, extra, (path, f"[{key}]"), found)
            return
        label = None
        if kind == "string":
            if value.__class__ is not str:
                label = "TYPE_STRING"
            elif "enum" in schema and value not in schema["enum"]:
                label = "TYPE_ENUM"
        elif kind == "integer":
            if isinstance(value, bool) or not (
                    isinstance(value, int) or (isinstance(value, float) and value.is_integer())
                    or (isinstance(value, str) and re.fullmatch(r"-?\d+", value))):
                label = _INT_FORMATS.get(schema.get("format", ""), "TYPE_INT32")
        elif kind == "number":
            if isinstance(value, bool) or not (
                    isinstance(value, (int, float)) or (isinstance(value, str) and _is_number_text(value))):
                label = "TYPE_DOUBLE" if schema.get("format") != "float" else "TYPE_FLOAT"
        elif kind == "boolean":
            if not isinstance(value, bool):
                label = "TYPE_BOOL"
        if label:
            found.append(_problem(path, f"Invalid value at '{_path(path)}' ({label}), {_show(value)}"))

    def _check_object(self, value: Any, ref: str, path: Any, found: list) -> None:
        if value.__class__ is not dict:
            if isinstance(value, list):
                text = _path(path)
                name = text.rsplit(".", 1)[-1] if text else ""
                parent = text.rsplit(".", 1)[0] if "." in text else ""
                found.append((text, f'Invalid JSON payload received. Unknown name "{name}"'
                                    f"{_at(parent)}: Proto field is not repeating, cannot start list."))
            else:
                found.append(_problem(path, f"Invalid value at '{_path(path)}' ({TYPE_URL}{ref}), {_show(value)}"))
            return
        properties = self.schemas[ref].get("properties", {})
        oneof = ONEOF.get(ref)
        chosen: str | None = None
        for name, item in value.items():
            spec = properties.get(name)
            if spec is None:
                spec = properties.get(_camel(name))  # the API takes snake_case names too
            if spec is None:
                text = _path(path)
                found.append((text or name, f'Invalid JSON payload received. Unknown name "{name}"{_at(text)}: '
                                            "Cannot find field."))
                continue
            if item is None:
                continue  # JSON null means "not set" for every proto field
            if oneof:
                if chosen is not None:
                    found.append(_problem(path, f"Invalid value at '{_path(path)}' (oneof), oneof field '{oneof}' is "
                                                f"already set. Cannot set '{name}'"))
                    continue
                chosen = name
            child = (path, snake(name))
            if "$ref" in spec:
                self._check_object(item, spec["$ref"], child, found)
            else:
                self._check(item, spec, child, found)


def _path(path: Any) -> str:
    parts: list = []
    while path is not None:
        if isinstance(path, str):
            parts.append(path)
            break
        path, last = path
        parts.append(last)
    out = ""
    for part in reversed(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("["):
            out += part
        else:
            out = f"{out}.{part}" if out else part
    return out


def _problem(path: Any, message: str) -> tuple[str, str]:
    return _path(path), message


def _first_leaf(path: str, tree: dict | None) -> str:
    while tree:
        name, tree = next(iter(tree.items()))
        path = f"{path}.{name}"
    return path


def _at(path: str) -> str:
    return f" at '{path}'" if path else ""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _is_number_text(value: str) -> bool:
    if value in ("NaN", "Infinity", "-Infinity"):
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)[:200]


@functools.lru_cache(maxsize=4)
def load_discovery(path: str | None = None) -> Discovery:
    return Discovery.load(path)


def validate_against_discovery(method_id: str, body: Any = None, params: dict[str, Any] | None = None,
                               discovery: str | Path | None = None) -> None:
    """Raise ApiError (400, the API's message) if `body` or query `params` of a call to `method_id`
    (e.g. "sheets.spreadsheets.batchUpdate") would be refused by the Sheets v4 API's schema.

    Tests use it on every request the store sent (GET /_emulator/requests gives method ids and bodies)."""
    document = load_discovery(str(discovery) if discovery else None)
    if method_id not in document.methods:
        raise ValueError(f"{method_id!r} is not a method of the Sheets v4 discovery document "
                         f"(the request log names Drive calls drive.files.*)")
    if params:
        query = {k: [str(x).lower() if isinstance(x, bool) else str(x) for x in (v if isinstance(v, list) else [v])]
                 for k, v in params.items()}
        document.check_params(method_id, query)
    if body is not None or document.request_schema(method_id):
        document.check_body(method_id, body if body is not None else {})
