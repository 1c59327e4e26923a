"""The field-type registry: ``field_type("money")`` is the object that knows how money cells are read,
shown, checked, formatted, validated, explained, sampled and typed into a form.

To add a type, write one module in this package with one ``FieldType`` subclass decorated with
``@register``: every module here is imported below, so nothing else needs editing (see rating.py and
docs/design.md, "Adding a field type").
"""
import importlib
import pkgutil

from crm_sheets.model.fieldtypes.base import FieldType, field_type, known_types, register
from crm_sheets.model.fieldtypes import builtin  # noqa: F401 (the types of 0.1, first: their order is the schema's)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["FieldType", "field_type", "known_types", "register"]
