"""Form buttons in a worksheet: the legacyDrawing (VML) a sheet refers to, found and put in place.

Used by `crm-sheets add-buttons` to add buttons, and by the writer to keep them on sheets it regenerates.
"""
from __future__ import annotations

import re

REL_VML = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/vmlDrawing"
NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# CT_Worksheet's elements that come after legacyDrawing, in schema order
_AFTER_LEGACY = ("legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems",
                 "tableParts", "extLst")


def only_buttons(vml: bytes) -> bool:
    """A VML drawing holding form buttons and nothing else (no notes)."""
    return b'ObjectType="Button"' in vml and b'ObjectType="' not in vml.replace(b'ObjectType="Button"', b"")


def insert_legacy_drawing(sheet: str, rid: str) -> str:
    """The worksheet XML with <legacyDrawing r:id=...> where the schema wants it."""
    prefix = "r"
    root = re.search(r"<worksheet\b[^>]*>", sheet).group(0)
    declared = re.search(rf'xmlns:(\w+)="{re.escape(NS_R)}"', root)
    if declared:
        prefix = declared.group(1)
    else:
        sheet = sheet.replace(root, root[:-1] + f' xmlns:r="{NS_R}">', 1)
    element = f'<legacyDrawing {prefix}:id="{rid}"/>'
    for name in _AFTER_LEGACY:
        m = re.search(rf"<(\w+:)?{name}\b", sheet)
        if m:
            return sheet[:m.start()] + element + sheet[m.start():]
    end = sheet.rindex("</")
    return sheet[:end] + element + sheet[end:]
