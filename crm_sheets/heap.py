"""The process's C heap during a run: big blocks (numpy columns, pandas' temporaries) go back to the system
when freed, and the free pages of a phase that let much go (a job's scratch, the write's buffers) are returned,
so a 100k-lead run's peak is what it holds, not what it once held. Linux with glibc only; elsewhere, and when
the person set MALLOC_* variables of their own, it does nothing.
"""
from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
from contextlib import contextmanager
from typing import Any

# glibc raises its mmap threshold each time a big block is freed (up to 32 MB), after which the columns and
# temporaries of the next phase come from the heap and stay there, fragmented, when freed: Python's own
# objects live in arenas mapped apart and cannot reuse them. Fixed thresholds keep big blocks mapped apart.
# Each mapped block costs page faults when touched: at 30k leads a first run's peak was 690 MB with glibc's
# defaults, 591 MB with these (sys time 2.2 s), 572 MB with 256 KiB / 1 MiB (sys time 4.0 s, and at 100k leads
# 19 s against 7 s), so the thresholds stay at a few MB.
MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 16 * 1024 * 1024
# One heap for every thread: glibc gives each thread that allocates (the reader's parse, the write's inflate and
# deflate workers, the states' commit) a heap of its own, whose freed blocks only that heap reuses, so a phase's
# peak is what it holds plus the free blocks left in each. At 100k leads a first run peaked at 933 MiB with one heap
# per thread and at 909 MiB with one heap (917 with two), its later phases (check's second look, the write, the
# confirming pass) each ~20 MiB lower; its CPU time was the same (the threads' allocations are few and large).
ARENAS = 1
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8

_libc: Any = False  # False: not looked up yet; None: not glibc (or turned off)


def _glibc() -> Any:
    global _libc
    if _libc is False:
        _libc = None
        if sys.platform.startswith("linux") and not any(k.startswith("MALLOC_") for k in os.environ):
            try:
                lib = ctypes.CDLL(None)
                if os.confstr("CS_GNU_LIBC_VERSION") and hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim"):
                    _libc = lib
            except (OSError, ValueError, AttributeError):
                _libc = None
    return _libc


_tuned = False


def tune() -> None:
    """Fixed mmap and trim thresholds, and one heap for all threads, for the rest of the process (once; harmless
    to call again)."""
    global _tuned
    lib = _glibc()
    if lib is None or _tuned:
        return
    lib.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    lib.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    lib.mallopt(_M_ARENA_MAX, ARENAS)  # (threads started before keep the heap they have)
    _tuned = True


def trim() -> None:
    """Return the heap's free pages to the system (after a phase that freed much; a few ms at 100k leads)."""
    lib = _glibc()
    if lib is not None:
        lib.malloc_trim(0)


@contextmanager
def collector_paused(paused: bool = True):
    """Pause Python's cyclic garbage collector inside the block (if it runs); it is back on afterwards. For
    phases that make millions of objects that form no cycles (a job's findings, a spill's tuples): each
    collection would walk the whole heap and free nothing."""
    if not paused or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        if _freezing:
            # what the block made lives on (findings, change sets, rows): left out of the collections until the run
            # ends, instead of walked by the first one after it (~0.1 s each at 30k sample leads)
            gc.freeze()


# A run's young generation: Python collects its youngest objects every 700 new ones by default, and the survivors of
# ten such collections again, then every object when enough survived (a full collection). A run makes millions of
# objects that live to its end and form no cycles (tables' mappings, findings, cell updates, rows of XML): at 30k sample
# leads a first run spent ~1.2 s of CPU in ~700 collections that together freed ~1,000 objects (10k: 0.4 s, 800).
# With these thresholds it collects a few dozen times; cycles made meanwhile still go, a little later. The objects a
# paused block (collector_paused) leaves are frozen until the run ends: the first collection after the block would walk
# them all (at 30k, seven such collections took ~0.5 s). A cycle among them becomes garbage only then, and is collected
# at the first full collection after the run.
RUN_THRESHOLDS = (100_000, 50, 100)

_runs = 0  # runs under fewer_collections now (a server may run several in threads)
_saved: tuple[int, ...] | None = None
_freezing = False  # collector_paused freezes what lives at its end (gc.freeze); fewer_collections thaws it
_runs_lock = threading.Lock()


@contextmanager
def fewer_collections():
    """Collect garbage less often inside the block (RUN_THRESHOLDS); the thresholds are back as they were when the
    last block still open ends. Also a decorator (runner.run)."""
    global _runs, _saved, _freezing
    with _runs_lock:
        if _runs == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*RUN_THRESHOLDS)
            # objects frozen by the process itself (a server preparing to fork) stay as it left them
            _freezing = gc.get_freeze_count() == 0
        _runs += 1
    try:
        yield
    finally:
        with _runs_lock:
            _runs -= 1
            if _runs == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
                if _freezing:
                    _freezing = False
                    gc.unfreeze()  # back in the oldest generation: collected as usual from here on
