"""The schema: tables, typed fields, dropdown lists and settings, loaded from a template YAML file.

The schema is the single source of truth: the workbook builder, the store's reader, the check job,
the web form and the docs all derive from it. Names follow Frictionless Table Schema where it fits
(``fields``, ``type``, ``constraints``, ``primaryKey``, ``foreignKeys``).
"""
from __future__ import annotations

import importlib.resources
import re
from functools import lru_cache
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from crm_sheets.errors import SchemaError

LANGUAGES = ("en", "fr")

# The field types (FIELD_TYPES, NUMERIC_TYPES, TEMPORAL_TYPES) come from the registry, crm_sheets.model.fieldtypes,
# which sits above this module: they are looked up when first asked for (see __getattr__ at the end).
TABLE_KINDS = ("data", "rules", "settings", "archive", "log")


def _templates_dir() -> Path:
    """Where the template YAML files are: inside the installed package (a wheel carries them as
    package data, see setup.py), else at the top of a source checkout, where they are kept."""
    packaged = Path(str(importlib.resources.files("crm_sheets") / "workbook_templates"))
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent.parent / "workbook_templates"


TEMPLATES_DIR = _templates_dir()
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_CONSTRAINTS = ("required", "unique", "enum", "minimum", "maximum", "pattern")


def normalize_header(text: Any) -> str:
    """Fold a header or label for matching: case, accents, spaces, punctuation do not count."""
    return _fold(text if type(text) is str else str(text))


@lru_cache(maxsize=8192)
def _fold(text: str) -> str:  # a read folds every title of every table's fields (~4,000 calls, a few hundred texts)
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_ALNUM.sub("", s.lower())


_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _labels(raw: Any, default_en: str, where: str) -> dict[str, str]:
    """Read a localised label: a plain string (English) or a mapping {en: ..., fr: ...}."""
    if raw is None:
        labels = {"en": default_en}
    elif isinstance(raw, str):
        labels = {"en": raw}
    elif isinstance(raw, Mapping):
        unknown = set(raw) - set(LANGUAGES)
        if unknown:
            raise SchemaError(
                f"{where}: unknown language {sorted(unknown)[0]!r}",
                hint=f"use one of {', '.join(LANGUAGES)}",
            )
        labels = {k: str(v) for k, v in raw.items()}
        labels.setdefault("en", default_en)
    else:
        raise SchemaError(f"{where}: a title must be text or a mapping of language to text")
    return labels


def _humanize(name: str) -> str:
    return name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Option:
    """One dropdown option: a stable key and its label per language."""

    key: str
    labels: Mapping[str, str]

    def label(self, lang: str = "en") -> str:
        return self.labels.get(lang) or self.labels["en"]


@dataclass(frozen=True)
class ListSchema:
    """A named list of dropdown options (one column of the Lists sheet)."""

    name: str
    title: Mapping[str, str]
    options: tuple[Option, ...]

    def label(self, lang: str = "en") -> str:
        return self.title.get(lang) or self.title["en"]

    def keys(self) -> list[str]:
        return [o.key for o in self.options]

    def labels(self, lang: str = "en") -> list[str]:
        return [o.label(lang) for o in self.options]

    def lookup(self) -> dict[str, str]:
        """Folded label or key (any language) -> option key."""
        out: dict[str, str] = {}
        for o in self.options:
            for text in (o.key, *o.labels.values()):
                # labels made only of symbols ('>', '<') fold to nothing: keep them as typed
                out.setdefault(normalize_header(text) or str(text).strip(), o.key)
        return out


@dataclass(frozen=True)
class Constraints:
    required: bool = False
    unique: bool = False
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Field:
    """A typed column of a table."""

    name: str
    type: str
    title: Mapping[str, str]
    description: Mapping[str, str] = field(default_factory=dict)
    constraints: Constraints = Constraints()
    list: str | None = None  # dropdown / tags: the ListSchema name
    reference: str | None = None  # reference: the target table name, or "*" for any table with IDs
    options_from: str | None = None  # dropdown: "table.field" whose values are the options (e.g. stages.stage)
    currency: str | None = None  # money: fixed ISO currency, or None for the Settings currency
    currency_field: str | None = None  # money: a field of the same row that holds the currency
    owned_by_job: str | None = None  # a job writes this column; people should not edit it
    aliases: tuple[str, ...] = ()
    width: float | None = None
    custom: bool = False  # added by a person in the Fields sheet

    def header(self, lang: str = "en") -> str:
        return self.title.get(lang) or self.title["en"]

    def help(self, lang: str = "en") -> str:
        return self.description.get(lang) or self.description.get("en", "")

    @property
    def required(self) -> bool:
        return self.constraints.required

    def names(self) -> set[str]:
        """Every folded spelling a header may have for this field (any language, aliases)."""
        return {normalize_header(x) for x in (self.name, *self.title.values(), *self.aliases)}


@dataclass(frozen=True)
class ForeignKey:
    fields: str
    reference_table: str
    reference_field: str = "id"


@dataclass(frozen=True)
class TableSchema:
    """A table: one sheet holding one Excel table, the first column being the record ID."""

    name: str
    title: Mapping[str, str]
    kind: str
    fields: tuple[Field, ...]
    id_prefix: str | None = None
    description: Mapping[str, str] = field(default_factory=dict)
    rows: tuple[Mapping[str, Any], ...] = ()  # rows shipped with the template (rule sheets)
    aliases: tuple[str, ...] = ()

    @property
    def primary_key(self) -> str | None:
        return "id" if self.id_prefix else None

    @property
    def excel_name(self) -> str:
        """The Excel table (ListObject) name: stable across languages and sheet renames."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    def sheet_name(self, lang: str = "en") -> str:
        return self.title.get(lang) or self.title["en"]

    def help(self, lang: str = "en") -> str:
        return self.description.get(lang) or self.description.get("en", "")

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    def has_field(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def foreign_keys(self) -> list[ForeignKey]:
        return [ForeignKey(f.name, f.reference) for f in self.fields
                if _field_type(f.type, self.name).links_to == "record" and f.reference]

    def names(self) -> set[str]:
        return {normalize_header(x) for x in (self.name, self.excel_name, *self.title.values(), *self.aliases)}


@dataclass(frozen=True)
class Setting:
    key: str
    value: Any
    type: str
    description: Mapping[str, str]

    def help(self, lang: str = "en") -> str:
        return self.description.get(lang) or self.description.get("en", "")


@dataclass(frozen=True)
class OwnedSheet:
    """A sheet a job regenerates whole (reports, Data Issues, Duplicates Review)."""

    key: str
    title: Mapping[str, str]
    job: str

    def sheet_name(self, lang: str = "en") -> str:
        return self.title.get(lang) or self.title["en"]


@dataclass(frozen=True)
class Schema:
    """A whole workbook template."""

    name: str
    version: int
    title: Mapping[str, str]
    description: Mapping[str, str]
    tables: Mapping[str, TableSchema]
    lists: Mapping[str, ListSchema]
    settings: tuple[Setting, ...]
    owned_sheets: Mapping[str, OwnedSheet] = field(default_factory=dict)
    source: str = ""

    def table(self, name: str) -> TableSchema:
        try:
            return self.tables[name]
        except KeyError:
            raise SchemaError(
                f"{self.source or self.name}: no table {name!r}",
                hint=f"tables are {', '.join(self.tables)}",
            ) from None

    def data_tables(self) -> list[TableSchema]:
        return [t for t in self.tables.values() if t.kind == "data"]

    def find_table(self, sheet_or_table_name: str) -> TableSchema | None:
        key = normalize_header(sheet_or_table_name)
        for t in self.tables.values():
            if key in t.names():
                return t
        return None

    def owned_sheet(self, key: str) -> OwnedSheet:
        return self.owned_sheets.get(key) or OwnedSheet(key, {"en": _humanize(key)}, "")

    def setting(self, key: str) -> Setting | None:
        for s in self.settings:
            if s.key == key:
                return s
        return None

    def with_custom_fields(self, fields: Iterable[tuple[str, Field]]) -> "Schema":
        """A copy of this schema with people's custom fields appended to their tables."""
        tables = dict(self.tables)
        for table_name, f in fields:
            t = tables[table_name]
            if t.has_field(f.name):
                continue
            tables[table_name] = replace(t, fields=(*t.fields, f))
        out = replace(self, tables=tables)
        _validate(out)
        return out


# ---------------------------------------------------------------------------------------------
# Loading


def available_templates() -> list[str]:
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.yaml"))


def load_schema(name_or_path: str | Path) -> Schema:
    """Load and validate a template by name (``sales``) or path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = TEMPLATES_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            from crm_sheets.errors import UsageError

            raise UsageError(
                f"unknown template {str(name_or_path)!r}",
                hint=f"choose one of {', '.join(available_templates())}",
            )
    # (imported here: a run on a workbook the table cache knows loads no template, and PyYAML is ~20 ms of start-up)
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        _refuse_repeated_sections(text, path)
        # the C loader is 10x faster when libyaml is there
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise SchemaError(f"{path}: schema file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SchemaError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_schema(raw, source=str(path))


def _refuse_repeated_sections(text: str, path: Path) -> None:
    """YAML keeps the last of two equal keys without a word: a section written twice (two owned_sheets
    blocks) would silently lose the first."""
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"([A-Za-z_][\w-]*):", line)
        if m:
            if m.group(1) in seen:
                raise SchemaError(f"{path}:{n}: section {m.group(1)!r} again (first at line {seen[m.group(1)]})",
                                  hint="merge the two sections into one")
            seen[m.group(1)] = n


def parse_schema(raw: Any, source: str = "<schema>") -> Schema:
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{source}: a schema must be a mapping with 'name', 'tables' and 'lists'")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{source}: the schema needs a 'name'")
    lists = {}
    for list_name, spec in (raw.get("lists") or {}).items():
        lists[list_name] = _parse_list(list_name, spec, f"{source}: list {list_name!r}")
    tables = {}
    for i, spec in enumerate(raw.get("tables") or []):
        t = _parse_table(spec, f"{source}: table #{i + 1}")
        if t.name in tables:
            raise SchemaError(f"{source}: table {t.name!r} is defined twice")
        tables[t.name] = t
    settings = tuple(
        _parse_setting(s, f"{source}: setting #{i + 1}") for i, s in enumerate(raw.get("settings") or [])
    )
    owned = {}
    for key, spec in (raw.get("owned_sheets") or {}).items():
        spec = spec or {}
        owned[key] = OwnedSheet(key, _labels(spec.get("title"), _humanize(key), f"{source}: sheet {key!r}"), spec.get("job", ""))
    schema = Schema(
        name=name,
        version=int(raw.get("version", 1)),
        title=_labels(raw.get("title"), _humanize(name), source),
        description=_labels(raw.get("description"), "", source),
        tables=tables,
        lists=lists,
        settings=settings,
        owned_sheets=owned,
        source=source,
    )
    _validate(schema)
    return schema


# ``options: field_types`` in a template: the types a person may give a column of the Fields sheet, taken
# from the field-type registry (``custom = True``, in registration order), so a new type file offers itself.
REGISTRY_OPTIONS = "field_types"


def _parse_list(name: str, spec: Any, where: str) -> ListSchema:
    if isinstance(spec, list):
        spec = {"options": spec}
    if isinstance(spec, Mapping) and spec.get("options") == REGISTRY_OPTIONS:
        spec = {**spec, "options": list(_custom_types())}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("options"), list):
        raise SchemaError(f"{where}: a list needs 'options' (a list of values, or {REGISTRY_OPTIONS!r})")
    options = []
    for o in spec["options"]:
        if isinstance(o, Mapping):
            labels = _labels({k: v for k, v in o.items() if k != "key"}, str(o.get("key", "")), where)
            key = str(o.get("key") or labels["en"])
        else:
            key = str(o)
            labels = {"en": key}
        options.append(Option(key=key, labels=labels))
    keys = [normalize_header(o.key) for o in options]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        raise SchemaError(f"{where}: option {dup!r} appears twice")
    return ListSchema(name=name, title=_labels(spec.get("title"), _humanize(name), where), options=tuple(options))


def parse_field(spec: Any, where: str, custom: bool = False) -> Field:
    if not isinstance(spec, Mapping) or not spec.get("name"):
        raise SchemaError(f"{where}: a field needs at least a 'name' and a 'type'")
    name = str(spec["name"])
    where = f"{where}, field {name!r}"
    if not _NAME_RE.match(name):
        raise SchemaError(f"{where}: a field name uses lower-case letters, digits and _ only")
    ftype = spec.get("type", "text")
    _field_type(ftype, where)  # an unknown type: a SchemaError naming the table, the field and the known types
    cons = dict(spec.get("constraints") or {})
    for key in _CONSTRAINTS:  # allow constraints at field level too: {required: true}
        if key in spec:
            cons[key] = spec[key]
    unknown = set(cons) - set(_CONSTRAINTS)
    if unknown:
        raise SchemaError(f"{where}: unknown constraint {sorted(unknown)[0]!r}", hint=f"use {', '.join(_CONSTRAINTS)}")
    if cons.get("pattern"):
        try:
            re.compile(cons["pattern"])
        except re.error as exc:
            raise SchemaError(f"{where}: pattern {cons['pattern']!r} is not a valid regular expression ({exc})")
    constraints = Constraints(
        required=bool(cons.get("required", False)),
        unique=bool(cons.get("unique", ftype == "id")),
        enum=tuple(str(x) for x in cons["enum"]) if cons.get("enum") else None,
        minimum=float(cons["minimum"]) if cons.get("minimum") is not None else None,
        maximum=float(cons["maximum"]) if cons.get("maximum") is not None else None,
        pattern=cons.get("pattern"),
    )
    aliases = spec.get("aliases") or ()
    if isinstance(aliases, str):
        aliases = (aliases,)
    return Field(
        name=name,
        type=ftype,
        title=_labels(spec.get("title"), "ID" if ftype == "id" else _humanize(name), where),
        description=_labels(spec.get("description"), "", where),
        constraints=constraints,
        list=spec.get("list"),
        reference=spec.get("reference"),
        options_from=spec.get("options_from"),
        currency=spec.get("currency"),
        currency_field=spec.get("currency_field"),
        owned_by_job=spec.get("owned_by_job"),
        aliases=tuple(str(a) for a in aliases),
        width=float(spec["width"]) if spec.get("width") else None,
        custom=custom,
    )


def _parse_table(spec: Any, where: str) -> TableSchema:
    if not isinstance(spec, Mapping) or not spec.get("name"):
        raise SchemaError(f"{where}: a table needs a 'name' and 'fields'")
    name = str(spec["name"])
    where = f"{where.rsplit(':', 1)[0]}: table {name!r}"
    if not _NAME_RE.match(name):
        raise SchemaError(f"{where}: a table name uses lower-case letters, digits and _ only")
    kind = spec.get("kind", "data")
    if kind not in TABLE_KINDS:
        raise SchemaError(f"{where}: unknown kind {kind!r}", hint=f"use one of {', '.join(TABLE_KINDS)}")
    fields = tuple(parse_field(f, where) for f in spec.get("fields") or [])
    if not fields:
        raise SchemaError(f"{where}: a table needs at least one field")
    rows = spec.get("rows") or ()
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, Mapping) for r in rows):
        raise SchemaError(f"{where}: 'rows' must be a list of mappings of field name to value")
    aliases = spec.get("aliases") or ()
    return TableSchema(
        name=name,
        title=_labels(spec.get("title"), _humanize(name), where),
        kind=kind,
        fields=fields,
        id_prefix=spec.get("id_prefix"),
        description=_labels(spec.get("description"), "", where),
        rows=tuple(rows),
        aliases=tuple(aliases) if not isinstance(aliases, str) else (aliases,),
    )


def _parse_setting(spec: Any, where: str) -> Setting:
    if not isinstance(spec, Mapping) or not spec.get("key"):
        raise SchemaError(f"{where}: a setting needs a 'key', a 'value' and a 'description'")
    stype = spec.get("type", "text")
    _field_type(stype, f"{where} ({spec['key']})")
    return Setting(
        key=str(spec["key"]),
        value=spec.get("value"),
        type=stype,
        description=_labels(spec.get("description"), "", where),
    )


def _validate(schema: Schema) -> None:
    src = schema.source or schema.name
    sheet_names: dict[str, str] = {}
    for t in schema.tables.values():
        where = f"{src}: table {t.name!r}"
        for lang in LANGUAGES:
            sheet = t.sheet_name(lang)
            if len(sheet) > 31 or re.search(r"[\[\]:*?/\\]", sheet):
                raise SchemaError(f"{where}: sheet name {sheet!r} is not allowed in Excel (31 characters, no []:*?/\\)")
            other = sheet_names.setdefault(f"{lang}:{normalize_header(sheet)}", t.name)
            if other != t.name:
                raise SchemaError(f"{where}: sheet name {sheet!r} is also used by table {other!r}")
        seen: dict[str, str] = {}
        for f in t.fields:
            fwhere = f"{where}, field {f.name!r}"
            if f.name in seen:
                raise SchemaError(f"{fwhere}: duplicate column", hint="each field name appears once per table")
            seen[f.name] = f.name
            for lang in LANGUAGES:
                other = seen.setdefault(f"h:{lang}:{normalize_header(f.header(lang))}", f.name)
                if other != f.name:
                    raise SchemaError(f"{fwhere}: header {f.header(lang)!r} is also the header of field {other!r}")
            problem = _field_type(f.type, fwhere).schema_problem(f, schema)  # a dropdown needs its list...
            if problem:
                raise SchemaError(f"{fwhere}: {problem[0]}", hint=problem[1])
            if f.currency_field and not t.has_field(f.currency_field):
                raise SchemaError(f"{fwhere}: currency_field {f.currency_field!r} is not a field of {t.name!r}")
        if t.id_prefix:
            if t.fields[0].type != "id":
                raise SchemaError(f"{where}: the first field of a table with IDs must be of type id")
            if not re.match(r"^[A-Z]{1,4}$", t.id_prefix):
                raise SchemaError(f"{where}: id_prefix {t.id_prefix!r} must be 1 to 4 capital letters")
        elif t.kind == "data":
            raise SchemaError(f"{where}: a data table needs an 'id_prefix'")
        for i, row in enumerate(t.rows):
            unknown = set(row) - set(seen)
            if unknown:
                raise SchemaError(f"{where}, row {i + 1}: unknown field {sorted(unknown)[0]!r}")
    prefixes = [t.id_prefix for t in schema.tables.values() if t.id_prefix]
    dup = next((p for p in prefixes if prefixes.count(p) > 1), None)
    if dup:
        raise SchemaError(f"{src}: id_prefix {dup!r} is used by two tables")


def localize(value: Any, lang: str = "en") -> Any:
    """A template cell value may be a mapping {en: ..., fr: ...}: pick the language (English fallback)."""
    if isinstance(value, Mapping) and "en" in value:
        return value.get(lang, value["en"])
    return value


def _field_type(name: Any, where: str) -> Any:
    from crm_sheets.model.fieldtypes import field_type

    return field_type(name, where)


def _custom_types() -> tuple[str, ...]:
    from crm_sheets.model.fieldtypes import field_type, known_types

    return tuple(t for t in known_types() if field_type(t).custom)


def __getattr__(name: str) -> Any:
    """FIELD_TYPES (every type name), NUMERIC_TYPES and TEMPORAL_TYPES, from the field-type registry."""
    if name in ("FIELD_TYPES", "NUMERIC_TYPES", "TEMPORAL_TYPES"):
        from crm_sheets.model.fieldtypes import field_type, known_types

        if name == "FIELD_TYPES":
            return known_types()
        trait = "numeric" if name == "NUMERIC_TYPES" else "temporal"
        return frozenset(t for t in known_types() if getattr(field_type(t), trait))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
