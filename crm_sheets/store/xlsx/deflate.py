"""The deflate of written parts: large parts through ISA-L (python-isal) when it is installed, else zlib; and the
inflate of the sheet parts the reader scans before parsing them (store/xlsx/extent.py), through ISA-L likewise.

A first run at 30k leads writes ~190 MB of worksheet XML; zlib at level 1 deflates it in ~0.75 s, ISA-L at its
level 1 in ~0.2 s and ~3 % smaller (measured on the sample's sheets: zlib 1 14.6 MB, ISA-L 1 14.2 MB, zlib 6 12.0 MB).
Both write plain raw deflate streams that every zip reader inflates; only the compressed bytes differ, never a
part's content, CRC or size. Small parts keep zlib at level 6 (their time is nothing, their size is kept).
"""
from __future__ import annotations

import zlib
from typing import Any

try:  # an optional speed-up: the same deflate format, written 3-4x faster
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - the dependency is declared; a build without it still writes valid files
    _isal = None

# Deflate level of large written parts (a rewritten or rendered worksheet over LARGE_PART_SIZE) with zlib: level 1
# deflates a 16 MB sheet in 0.04 s against 0.15 s at level 6 (a 138 MB one in 0.6 s against 1.5 s), for a part
# about a fifth larger; inflating it costs the same. With ISA-L its level 1 is used (smaller than zlib's level 1).
LARGE_PART_LEVEL = 1
LARGE_PART_SIZE = 1 << 20
SMALL_PART_LEVEL = 6


def compressor(large: bool) -> Any:
    """A raw-deflate compressor (``compress``/``flush``) for a part: fast for a large one, thorough for a small one."""
    if not large:
        return zlib.compressobj(SMALL_PART_LEVEL, zlib.DEFLATED, -15)
    if _isal is not None:
        return _isal.compressobj(1, _isal.DEFLATED, -15)
    return zlib.compressobj(LARGE_PART_LEVEL, zlib.DEFLATED, -15)


def fast() -> bool:
    """Whether large parts are deflated by ISA-L."""
    return _isal is not None


def inflater() -> Any:
    """A raw-inflate decompressor (``decompress(data, max_length)``, ``unconsumed_tail``, ``eof``): ISA-L's inflates
    a 30k-lead workbook's sheets (170 MB of XML) in ~0.12 s CPU against zlib's ~0.19 s."""
    if _isal is not None:
        return _isal.decompressobj(-15)
    return zlib.decompressobj(-15)
