"""What a field type is: one object per type that says how its cells are read, shown, checked, formatted,
validated, explained, sampled and typed into a web form. Everything that needs a type asks this object
(``field_type(name)``) instead of branching on the type's name; ``builtin.py`` holds the types of 0.1 and
one file per newer type (``rating.py``) adds one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from crm_sheets.errors import SchemaError

if TYPE_CHECKING:  # base.py imports no model module: schema.py and values.py look types up late, without a cycle
    from crm_sheets.model.schema import Field
    from crm_sheets.model.values import ReadContext


class FieldType:
    """A field type. Subclasses set the class attributes and override the methods that differ.

    The defaults are those of a free text column: kept as typed, no number format, no validation.
    """

    name: str = ""
    dtype: str = "object"  # the pandas dtype of a column in Tables (tables.dtype_for)
    # Families the jobs reason about (filters, comparisons, text for people): a type is in at most one of
    # text / numeric / temporal / boolean / options.
    text: bool = False  # read as typed text (id, text, email, ...): no parsing
    numeric: bool = False  # a number in the frame (number, integer, money, percent, rating)
    temporal: bool = False  # a date or datetime in the frame
    with_time: bool = False  # temporal: the time of day counts (datetime)
    boolean: bool = False  # TRUE/FALSE
    options: bool = False  # values are keys of a list (dropdown, tags)
    multiple: bool = False  # several option keys in one cell (tags)
    whole: bool = False  # numeric values are whole numbers (integer, rating)
    percent: bool = False  # a fraction shown as a percentage
    links_to: str | None = None  # "record": the ID of a record of another table; "member": a name from Team
    # How an imported text is found equal to the cell's ("same value, already there"): "text" exactly,
    # "casefold" (emails, web addresses), "digits" (phones), "option" (folded like a label), "fold" (places).
    compare: str = "text"
    place: bool = False  # a country, city or address (a country is compared and tidied by its ISO code)
    free_text: bool = False  # plain words people write (text, long_text): no form of its own to check
    per_currency: bool = False  # an amount in a currency (the field's, its row's or the Settings')
    pattern: bool = False  # the ``pattern`` constraint applies (text-like columns people type)
    strip: bool = False  # text kept stripped of surrounding spaces (IDs)
    custom: bool = True  # a person may give this type to a column of the Fields sheet
    # The Python types calamine returns for a cell already of this type, and pandas' infer_dtype verdicts
    # on a column of them: the reader's fast path (values.parse_column).
    native: tuple[type, ...] = (str,)
    native_kinds: frozenset[str] = frozenset({"string"})
    # The look of a column in a new workbook.
    width: float = 16  # characters
    wrap: bool = False
    align: str | None = None
    fits_content: bool = False  # widened to fit the text it holds (builder.sheet._width)
    # Help on the header (input message), per language; {placeholders} are filled by the builder.
    help: Mapping[str, str] = {}
    # A finding about a cell that is not of this type: "is not {kind}" (default: "a <name>"), "{how}" to
    # fix it, and the slug of a value of this type typed as text (number-as-text, date-as-text...).
    kind: str = ""
    how: str = "correct the value"
    as_text_slug: str = "value-as-text"
    # The check job's check of the text people typed in a column of this type (jobs/check/fields.py
    # TEXT_CHECKS holds each, with the caches it needs): "text" (spaces, names' case), "email" (form, domain
    # typos), "phone" (valid for the row's country, E.164), "url", "place" (countries by ISO code, other
    # places as text), "value" (the type's own check_value, below); None: no such check.
    text_check: str | None = None
    # What the type is called in a visitor's error message ("Please enter a valid {noun}").
    noun: Mapping[str, str] = {}
    # The web form: the longest value it takes, <input type=...> and its step (None: no step attribute).
    max_length: int = 500
    input_type: str = "text"
    input_step: str | None = None
    input_min: float | None = None  # bounds of the type itself (rating: 1..5), beside the field's constraints
    input_max: float | None = None

    # -- reading ----------------------------------------------------------------------------------
    def parse(self, field: "Field", raw: Any, ctx: "ReadContext", options: Mapping[str, str] | None) -> Any:
        """A non-empty raw cell (str, float, bool, date...) as a value of this type, or None when it cannot
        be read without guessing. Text types never get here (values.parse_value keeps them as typed)."""
        return None

    def parse_text(self, text: str, ctx: "ReadContext", field: "Field | None" = None) -> Any:
        """A value typed as text (an import, a form, a rule's value), or None."""
        from crm_sheets.model.schema import Field as _Field

        return self.parse(field or _Field(name="x", type=self.name, title={"en": "x"}), text, ctx, None)

    normal_form_safe: bool = False  # normalise() gives text no spreadsheet reads as a formula (E.164 phones)

    def normalise(self, text: str, default_country: str = "US") -> str | None:
        """The tidy form of a value typed as text by someone from outside (a web form): what the check
        job would fix it to; None when the type has none or the text cannot be tidied."""
        return None

    def check_value(self, text: str, lang: str = "en") -> tuple[str, str, str, str, Any, bool] | None:
        """With ``text_check = "value"``: what is wrong with one text typed in a column of this type, asked by
        the check job once per distinct text of a column (so it must depend on the text alone): None when
        all is well, else (finding slug, severity, what is wrong, what to do, the fix or None, whether
        ``check --fix`` may write the fix)."""
        return None

    def frame_value(self, value: Any) -> Any:
        """A frame cell as the plain value a CellUpdate carries (check --fix of a value typed as text)."""
        return value

    def to_text(self, value: Any, lang: str = "en") -> str:
        """A value as people read it in a message or an email (no options: those need the field's list)."""
        from crm_sheets.model.values import cell_text

        return cell_text(value)

    def schema_problem(self, field: "Field", schema: Any) -> tuple[str, str | None] | None:
        """What is wrong with ``field``'s settings for this type in ``schema`` (a dropdown without a list):
        (problem, hint) for the SchemaError that names the table and field, or None."""
        return None

    # -- the workbook -----------------------------------------------------------------------------
    def number_format(self, currency: str | None = None, lang: str = "en") -> str | None:
        """The xlsx number format of the column's cells (None: General)."""
        return None

    def sheets_number_format(self) -> tuple[str, str] | None:
        """Google Sheets' numberFormat (type, pattern) of the column's cells (None: automatic)."""
        return None

    def validation(self, field: "Field") -> dict[str, Any] | None:
        """The data validation of the column's cells, backend-neutral (builder/validation.py translates it for
        xlsx; Google Sheets takes the built file's rules, store/gsheets/push.py): ``{"kind": ...}`` with kind one of ``unique`` (IDs), ``list``
        (``strict``: refuse other values), ``reference``, ``user``, ``boolean``, ``date``, ``whole`` /
        ``decimal`` (``minimum``/``maximum`` beside the field's constraints, ``percent``), ``email``,
        ``note`` (an input message only); None: free text."""
        return None

    unique_rule: bool = False  # a unique constraint adds a COUNTIF rule to the column (text, email)

    def help_text(self, lang: str = "en", **values: Any) -> str:
        text = self.help.get(lang) or self.help.get("en", "")
        return text.format(**values) if values else text

    # -- sample data ------------------------------------------------------------------------------
    def samples(self, ctx: Any, n: int, field: "Field", blank: Any) -> Any:
        """``n`` plausible values for a column the sample generator has no story for, empty where ``blank``
        (a bool array); None leaves the column empty. ``ctx`` is sample.frames.SampleContext: its ``rng``,
        ``pick``, ``with_none``, ``dates``, ``option_keys``, ``source_options``, ``team``, ``id_pools``."""
        return None

    def planted_errors(self, field: "Field") -> list[str]:
        """The finding types sample data may plant in this column (sample/errors.py knows how to plant each),
        beside ``required`` and the ones chosen by the field's name."""
        return []

    def __repr__(self) -> str:
        return f"<field type {self.name}>"


_REGISTRY: dict[str, FieldType] = {}


def register(cls: type[FieldType]) -> type[FieldType]:
    """Class decorator: make ``cls`` the field type of its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls()
    return cls


def field_type(name: str, where: str = "") -> FieldType:
    """The field type called ``name``; a SchemaError naming ``where`` and the known types otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise SchemaError(f"{where + ': ' if where else ''}unknown type {name!r}",
                          hint=f"use one of {', '.join(_REGISTRY)}") from None


def known_types() -> tuple[str, ...]:
    """The names of every field type, in the order they were registered."""
    return tuple(_REGISTRY)
