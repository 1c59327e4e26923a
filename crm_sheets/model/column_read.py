"""Reading a whole column of cells at once: the store's fast path (100,000s of rows), equal to reading
each cell with model/values.py's ``parse_value`` (tests/test_fieldtypes.py compares the two).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Field
from crm_sheets.model.values import ReadContext, parse_value

# ---------------------------------------------------------------------------------------------
# Whole columns: the reader's fast path

# The Python types calamine returns for a cell already typed as the field wants (FieldType.native), and
# infer_dtype's verdict on a column whose non-empty cells are all of them (FieldType.native_kinds).


def parse_column(
    field: Field, raws: Sequence[Any], ctx: ReadContext, options: Mapping[str, str] | None = None,
    texts: dict[int, Any] | None = None,
) -> tuple[Any, dict[int, Any]]:
    """Read a whole column: an array of the column's dtype (tables.DTYPES; object columns hold str or
    None) and {position: raw} of the unreadable cells, which are null in the array — except in
    dropdown and tags columns, where an unknown option's text is kept.

    ``texts``, when given, receives {position: raw} of the cells of a typed column (number, money,
    percent, integer, date, datetime, checkbox) that were text but read as the type: what
    ``check --fix`` turns into real numbers, dates and checkboxes.

    Vectorised for speed (100,000s of rows): a column whose cells are already of the right Python
    type (calamine returns float, bool, date and datetime for typed cells) is converted as a block;
    other cells are parsed once per distinct value.
    """
    values, bad = _column(field, raws, ctx, options, texts)
    if texts and bad:
        for i in bad:  # read as text, then refused (a date beyond 2262): unreadable, not typed text
            texts.pop(i, None)
    return values, bad


def _column(field: Field, raws: Sequence[Any], ctx: ReadContext, options: Mapping[str, str] | None,
            texts: dict[int, Any] | None) -> tuple[Any, dict[int, Any]]:
    import numpy as np
    import pandas as pd
    from pandas.api.types import infer_dtype

    from crm_sheets.model.tables import dtype_for

    ftype = field_type(field.type)
    n = len(raws)
    if isinstance(raws, np.ndarray) and raws.dtype == object and raws.ndim == 1:
        arr = raws
    else:
        arr = np.empty(n, dtype=object)
        arr[:] = raws
    if ftype.text or ftype.options:
        if infer_dtype(arr, skipna=False) == "string":  # the usual text column: no per-cell work
            return _string_column(field, arr, ctx, options)
    empty = (arr == "") | (arr == None)  # noqa: E711 (elementwise); NaN floats are handled as numbers
    filled = np.flatnonzero(~empty)
    kind = infer_dtype(arr[filled], skipna=False) if len(filled) else "empty"
    if kind in ftype.native_kinds and not ftype.options:
        native = ~empty
    elif ftype.options:  # dropdown, tags: every cell goes through its options
        native = np.zeros(n, dtype=bool)
    else:
        types = np.fromiter(map(type, arr), dtype=object, count=n)
        native = np.zeros(n, dtype=bool)
        for t in ftype.native:
            native |= types == t
        native &= ~empty
    slow = np.flatnonzero(~(empty | native))
    bad: dict[int, Any] = {}
    parsed = _parse_slow(field, arr, slow, ctx, options, bad)
    dtype = dtype_for(field.type)
    if texts is not None and dtype != "object" and len(slow):
        # Only the cells that needed parsing can be text: typed columns stay fast (no per-cell work).
        for i, raw, value in zip(slow.tolist(), arr[slow].tolist(), parsed.tolist()):
            if type(raw) is str and value is not None and i not in bad:
                texts[i] = raw

    if dtype == "object":
        out = arr.copy()
        out[empty] = None
        if len(slow):
            out[slow] = parsed
        if ftype.strip:
            out[native] = [s.strip() for s in out[native]]
        return shared_strings(out), bad
    if dtype in ("float64", "Int64"):
        values = np.full(n, np.nan)
        values[native] = arr[native].astype("float64")
        ftype.native_values(values, native)  # percent: a bare 25 means 25 % (see parse_value)
        refused = ftype.refuse_native(values, native)  # integer: 2.5 is not rounded into the column
        if refused is not None:
            for i in np.flatnonzero(refused):
                bad[int(i)] = arr[i]
            values[refused] = np.nan
        if len(slow):
            parsed[parsed == None] = np.nan  # noqa: E711 (elementwise)
            values[slow] = parsed.astype("float64")
        return (pd.array(values, dtype="Int64") if dtype == "Int64" else values), bad
    if dtype == "boolean":
        values = np.zeros(n, dtype=bool)
        mask = ~native
        values[native] = arr[native].astype(bool)
        for i, v in zip(slow.tolist(), parsed.tolist()):
            if v is not None:
                values[i], mask[i] = v, False
        return pd.arrays.BooleanArray(values, mask), bad
    # date / datetime: pandas converts blocks of Python dates fast; null where empty or unreadable
    objs = np.full(n, None, dtype=object)
    objs[native] = arr[native]
    if len(slow):
        objs[slow] = parsed
    stamps = pd.to_datetime(pd.Series(objs, dtype=object), errors="coerce")
    for i in np.flatnonzero(stamps.isna().to_numpy() & (objs != None)):  # noqa: E711 (beyond year 2262)
        bad[int(i)] = arr[i]
    if not ftype.with_time:  # date: midnight (Timestamp columns hold both)
        stamps = stamps.dt.normalize()
    return stamps.to_numpy().astype("datetime64[ns]"), bad


def shared_strings(values: Any) -> Any:
    """An object array of str and nulls with equal strings as one object (the same values, the same types).

    The reader gets a new str per cell: at 100,000 leads an Owner, Country or City column holds 100,000
    copies of a dozen names (~60 bytes each), over 100 MB across a workbook's tables. A column of mostly
    distinct values (emails, names) is returned as it is."""
    import numpy as np
    import pandas as pd
    from pandas.api.types import infer_dtype

    n = len(values)
    if n < 64 or infer_dtype(values, skipna=True) != "string":  # only str (1 == 1.0 == True would share)
        return values
    codes, uniques = pd.factorize(values)
    if len(uniques) * 2 > n:
        return values
    out = np.asarray(uniques, dtype=object)[codes]
    missing = codes < 0
    if missing.any():
        out[missing] = values[missing]  # None stays None (factorize codes every null -1)
    return out


def _string_column(field: Field, arr: Any, ctx: ReadContext, options: Any) -> tuple[Any, dict[int, Any]]:
    """A column of str only: text as typed ('' -> None); dropdown and tags parsed once per value."""
    import numpy as np
    import pandas as pd

    bad: dict[int, Any] = {}
    ftype = field_type(field.type)
    if ftype.text:
        if len(arr) < 64:
            out = arr.copy()
            out[arr == ""] = None
            if ftype.strip:
                out[:] = [s.strip() if s else s for s in out]
            return shared_strings(out), bad
        # Each distinct text handled once (a column of cities holds a few hundred): '' is empty, the others
        # stripped; the column is then made of those texts, so equal texts are one object (as shared_strings)
        codes, uniques = pd.factorize(arr)
        texts = np.empty(len(uniques), dtype=object)
        texts[:] = [(s.strip() if ftype.strip else s) if s else None for s in uniques]
        return texts[codes], bad
    codes, uniques = pd.factorize(arr)
    results = [parse_value(field, u, ctx, options) for u in uniques]
    values = np.empty(len(results), dtype=object)
    values[:] = [v for v, _ in results]  # unknown options keep their text (see parse_value)
    for code in [k for k, (_, ok) in enumerate(results) if not ok]:
        for i in np.flatnonzero(codes == code).tolist():
            bad[i] = arr[i]
    return values[codes], bad


def _parse_slow(field: Field, arr: Any, slow: Any, ctx: ReadContext, options: Any, bad: dict[int, Any]) -> Any:
    """parse_value for the cells that need it, once per distinct value: an object array (None where
    unreadable, except an unknown option's text)."""
    import numpy as np
    import pandas as pd
    from pandas.api.types import infer_dtype

    keep_unknown = field_type(field.type).options
    if not len(slow):
        return np.empty(0, dtype=object)
    cells = arr[slow]
    if infer_dtype(cells, skipna=False) == "string":  # the usual case (dropdowns, text dates): by value
        codes, uniques = pd.factorize(cells)
        results = [parse_value(field, u, ctx, options) for u in uniques]
        values = np.empty(len(results), dtype=object)
        values[:] = [v if ok or keep_unknown else None for v, ok in results]
        for code in [k for k, (_, ok) in enumerate(results) if not ok]:
            for i in np.flatnonzero(codes == code).tolist():
                bad[int(slow[i])] = cells[i]
        return values[codes]
    # Mixed types: keyed by (type, value), since 1.0 == True would otherwise share a result.
    cache: dict[tuple[type, Any], tuple[Any, bool]] = {}
    out: list[Any] = []
    for i, raw in zip(slow.tolist(), cells.tolist()):
        key = (type(raw), raw)
        try:
            value, ok = cache[key]
        except KeyError:
            value, ok = cache[key] = parse_value(field, raw, ctx, options)
        except TypeError:  # an unhashable value: parsed uncached
            value, ok = parse_value(field, raw, ctx, options)
        if ok:
            out.append(value)
        else:
            bad[i] = raw
            out.append(value if keep_unknown else None)
    result = np.empty(len(out), dtype=object)
    result[:] = out
    return result
