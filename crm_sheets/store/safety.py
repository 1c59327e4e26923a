"""Writing a workbook without ever losing it: office lock files, the one-writer lock, fingerprints, backups
and the atomic replace. Knows nothing of the xlsx format: the bytes come from a write function.

Every file operation goes through a ``FileOps`` object so tests can fail the Nth one (as SQLite tests itself).
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from crm_sheets.errors import CrmSheetsError, WorkbookBusy, WorkbookChanged

# logging, shutil, socket and uuid are imported where used: a run answered from its record (settled.py) takes the
# writer lock and hashes the file, and needs none of them.

BACKUP_DIR = ".crm-backups"
TMP_MARK = ".crm-tmp-"
PART_MARK = ".part"  # a backup being written


class FileOps:
    """The file operations of a write, one method each, so a test can make any one of them fail."""

    def write(self, path: Path, write_fn: Callable[[Path], object]) -> None:
        write_fn(path)

    def write_bytes(self, path: Path, data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data)

    def fsync(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def fsync_dir(self, path: Path) -> None:
        # A rename is only durable once its directory is synced; Windows has no directory handles to sync.
        if os.name == "nt":
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def replace(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)

    def copy(self, src: Path, dst: Path) -> None:
        import shutil

        shutil.copy2(src, dst)

    def backup(self, data: bytes, dst: Path) -> None:
        """Write a backup from the bytes we read (never a copy of the file as it is now: that may be a
        colleague's newer save, which the replace then would not notice). Written aside and renamed, so
        a crash never leaves a torn backup under a backup's name."""
        part = dst.with_name(dst.name + PART_MARK)
        try:
            with open(part, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(part, dst)
        except BaseException:
            _quiet_unlink(part)
            raise

    def backup_as_read(self, src: Path, dst: Path, expected: Fingerprint) -> None:
        """Write a backup by copying ``src`` while hashing it, refusing (WorkbookChanged) unless it holds what
        was read (``expected``): the same backup as ``backup`` from the bytes read, without holding those bytes
        in memory for the whole run (40 MB at 100k leads). Written aside and renamed, like ``backup``."""
        part = dst.with_name(dst.name + PART_MARK)
        try:
            h, size = hashlib.sha256(), 0
            with open(src, "rb") as f, open(part, "wb") as out:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                if (size, h.hexdigest()) != (expected.size, expected.sha256):
                    raise _changed(src)
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, dst)
        except FileNotFoundError:
            _quiet_unlink(part)
            raise _changed(src, "was moved or deleted since it was read") from None
        except BaseException:
            _quiet_unlink(part)
            raise

    def exchange(self, a: Path, b: Path) -> bool:
        """Swap two files in one step where the OS can (Linux renameat2); False where it cannot."""
        return _exchange(a, b)

    def unlink(self, path: Path) -> None:
        os.unlink(path)


DEFAULT_OPS = FileOps()


# ---------------------------------------------------------------------------------------------
# Office lock files: someone has the workbook open in Excel or LibreOffice


def office_lock_files(path: str | os.PathLike) -> list[Path]:
    """The lock files Excel and LibreOffice would create for this workbook (whether or not they exist)."""
    p = Path(path)
    name = p.name
    # Excel names its owner file ~$name, but replaces the first two characters of long names.
    candidates = [p.with_name("~$" + name)]
    if len(Path(name).stem) >= 8:
        candidates.append(p.with_name("~$" + name[2:]))
    candidates.append(p.with_name(f".~lock.{name}#"))
    return candidates


def office_lock_holder(path: str | os.PathLike) -> str | None:
    """Who has the workbook open in Excel or LibreOffice, as "Ana Lopez (Excel)", or None if nobody does."""
    for lock in office_lock_files(path):
        try:
            data = lock.read_bytes()
        except FileNotFoundError:
            continue
        except OSError:
            data = b""  # Excel keeps its owner file open and may deny reading: it is still a lock
        if lock.name.startswith("~$"):
            return f"{_excel_owner(data) or 'someone'} (Excel)"
        return f"{_libreoffice_owner(data) or 'someone'} (LibreOffice)"
    return None


def _excel_owner(data: bytes) -> str:
    # Excel's owner file: byte 0 is the name's length, then the name in the ANSI code page padded with
    # spaces to about 54 bytes, then a 2-byte length and the same name in UTF-16 (accents intact).
    # The exact offset of the UTF-16 copy varies between versions, so look for its length a few bytes on.
    if not data:
        return ""
    n = data[0]
    if 0 < n <= 54 and len(data) > n:
        ansi = data[1 : 1 + n].decode("cp1252", errors="replace").strip()
        for at in range(53, 60):
            if int.from_bytes(data[at : at + 2], "little") == n and len(data) >= at + 2 + 2 * n:
                wide = data[at + 2 : at + 2 + 2 * n].decode("utf-16-le", errors="replace").strip("\x00 ")
                if wide.isprintable() and "\ufffd" not in wide and len(wide) == len(ansi):
                    return wide
        return ansi
    return data[1:54].decode("cp1252", errors="replace").strip(" \x00")


def _libreoffice_owner(data: bytes) -> str:
    # LibreOffice: one CSV line "Name,host,localuser,date,userdir;" (commas in fields escaped with \).
    text = data.decode("utf-8", errors="replace").strip().rstrip(";")
    fields = [f.replace("\\,", ",") for f in re.split(r"(?<!\\),", text)]
    name = fields[0].strip() if fields else ""
    host = fields[1].strip() if len(fields) > 1 else ""
    if not name and len(fields) > 2:
        name = fields[2].strip()
    return f"{name} on {host}" if name and host else name or host


# ---------------------------------------------------------------------------------------------
# One crm-sheets writer per workbook


def writer_lock_path(path: Any) -> Path:
    """The lock file of a store (or of the workbook file at ``path``): keyed by the store's identity."""
    from crm_sheets.store.state import state_of

    return state_of(path).lock


LOCK_TIMEOUT_ENV = "CRM_SHEETS_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 5.0  # seconds a second run waits for the first before it gives up (exit 3)


def lock_timeout() -> float:
    """How long a run waits for another run's lock: CRM_SHEETS_LOCK_TIMEOUT seconds, default 5."""
    text = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    try:
        return max(float(text), 0.0) if text else DEFAULT_LOCK_TIMEOUT
    except ValueError:
        raise CrmSheetsError(f"{LOCK_TIMEOUT_ENV}={text!r} is not a number of seconds", hint="e.g. 5 or 0.5") from None


class WriterLock:
    """An exclusive lock on one workbook among crm-sheets runs: ``with WriterLock(path): ...``.

    The lock is the OS's (flock / msvcrt) on a file beside the workbook holding pid, host and time, so a
    crashed run never leaves a stale lock: the OS releases it with the process.
    """

    def __init__(self, path: Any, timeout: float | None = None):
        from crm_sheets.store.state import state_of

        state = state_of(path)
        self.remote = not state.identity.startswith("file:")
        if self.remote:
            self.path = Path(state.identity)
        else:
            self.path = Path(path) if isinstance(path, (str, os.PathLike)) else Path(state.identity[len("file:"):])
        self.label = state.identity if self.remote else self.path.name  # how messages name the store
        self.lock_path = state.lock
        self.timeout = lock_timeout() if timeout is None else timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "WriterLock":
        deadline = time.monotonic() + self.timeout
        while True:
            if self.remote:  # a remote store's state folder, made on its first lock
                self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
            except OSError as e:
                raise CrmSheetsError(
                    f"cannot create {self.lock_path.name} beside {self.label}: {e.strerror or e}",
                    hint="crm-sheets needs write access to the workbook's folder",
                ) from e
            try:
                locked = _try_lock(fd)
            except OSError as e:  # e.g. a network folder without file locks
                os.close(fd)
                raise CrmSheetsError(
                    f"cannot lock {self.lock_path.name} beside {self.label}: {e.strerror or e}",
                    hint="keep the workbook in a folder whose file system supports locks (a local disk or a synced folder)",
                ) from e
            if locked:
                if _same_file(fd, self.lock_path):
                    break
                # The holder removed the file between our open and our lock: lock the new one instead.
                _unlock(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                raise WorkbookBusy(
                    f"another crm-sheets run ({self._holder()}) is writing {self.label}",
                    hint=f"wait for it to finish and run again (waited {self.timeout:g} s; {LOCK_TIMEOUT_ENV} sets how long)",
                )
            time.sleep(0.05)
        info = f"pid={os.getpid()}\nhost={_host_name()}\ntime={datetime.now().isoformat(timespec='seconds')}\n"
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, info.encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            # Removed while still locked, so a waiting run that opened it re-checks and locks a fresh file.
            if os.name != "nt":
                self.lock_path.unlink(missing_ok=True)
        finally:
            _unlock(fd)
            os.close(fd)
            if os.name == "nt":
                try:
                    self.lock_path.unlink()
                except OSError:
                    pass

    def _holder(self) -> str:
        info: dict[str, str] = {}
        for _ in range(5):  # the holder writes its line just after taking the lock
            try:
                text = self.lock_path.read_text(errors="replace")
            except OSError:
                text = ""
            info = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            if info:
                break
            time.sleep(0.02)
        since = f", started {info['time'].replace('T', ' ')}" if info.get("time") else ""
        return f"pid {info.get('pid', '?')} on {info.get('host', '?')}{since}"

    def __enter__(self) -> "WriterLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows CI only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

    def _same_file(fd: int, path: Path) -> bool:
        return True  # Windows cannot delete an open file, so the file we locked is the one at path

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    def _same_file(fd: int, path: Path) -> bool:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


# ---------------------------------------------------------------------------------------------
# Did the file change since we read it?


@dataclass(frozen=True)
class Fingerprint:
    size: int
    mtime_ns: int
    sha256: str

    def same_content(self, other: "Fingerprint | None") -> bool:
        # The hash decides: a touch is not a change, and a same-size edit within the mtime resolution is.
        return other is not None and self.size == other.size and self.sha256 == other.sha256


def file_fingerprint(path: str | os.PathLike) -> Fingerprint:
    """Size, modification time and SHA-256 of a file (about 10 ms for a 15 MB workbook)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return Fingerprint(st.st_size, st.st_mtime_ns, h.hexdigest())


# ---------------------------------------------------------------------------------------------
# Backups and the atomic replace


def backup_dir(path: str | os.PathLike) -> Path:
    return Path(path).parent / BACKUP_DIR


def list_backups(path: str | os.PathLike) -> list[Path]:
    """This workbook's backups, oldest first."""
    p = Path(path)
    pattern = re.compile(re.escape(p.stem) + r"\.\d{8}-\d{6}-\d{6}(-\d+)?" + re.escape(p.suffix) + "$")
    folder = backup_dir(p)
    if not folder.is_dir():
        return []
    return sorted((b for b in folder.iterdir() if pattern.match(b.name)), key=lambda b: b.name)


def _new_backup_path(path: Path) -> Path:
    folder = backup_dir(path)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    candidate = folder / f"{path.stem}.{stamp}{path.suffix}"
    n = 1
    while candidate.exists():
        candidate = folder / f"{path.stem}.{stamp}-{n}{path.suffix}"
        n += 1
    return candidate


def rotate_backups(path: str | os.PathLike, keep: int, ops: FileOps = DEFAULT_OPS) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns the ones deleted."""
    old = list_backups(path)
    doomed = old[: max(len(old) - keep, 0)]
    p = Path(path)
    folder = backup_dir(p)
    if folder.is_dir():  # backups a crashed run left half-written (we hold the writer lock)
        doomed += sorted(folder.glob(f"{glob_escape(p.stem)}.*{glob_escape(p.suffix)}{PART_MARK}"))
    for b in doomed:
        ops.unlink(b)
    return doomed


def _host_name() -> str:
    """socket.gethostname() without loading socket where the kernel's node name is that name (POSIX)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def temp_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    import uuid

    return p.with_name(f".{p.name}{TMP_MARK}{uuid.uuid4().hex[:12]}")


def stale_temp_files(path: str | os.PathLike) -> list[Path]:
    """Temp files a crashed write left beside the workbook (only safe to delete under the WriterLock)."""
    p = Path(path)
    return sorted(p.parent.glob(f".{glob_escape(p.name)}{TMP_MARK}*"))


def glob_escape(name: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", name)


def atomic_replace(
    path: str | os.PathLike,
    write_fn: Callable[[Path], object],
    backups: int = 5,
    *,
    ops: FileOps = DEFAULT_OPS,
    check: Callable[[], None] | None = None,
    expected: Fingerprint | None = None,
    original: bytes | None = None,
    before_replace: Callable[[Path], None] | None = None,
) -> Path | None:
    """Replace ``path`` by what ``write_fn(tmp)`` writes, so that the file is always the old or the new one.

    The temp file is written in the same folder and fsynced; ``before_replace(tmp)`` runs once it is
    complete (the runner keeps the jobs' states under its generation there); ``check()`` may raise to
    abort; the backup is made from ``original`` (the bytes the caller read), else copied from the file and
    refused unless it holds ``expected``'s content, else copied from the file;
    with ``expected`` (the fingerprint of what the caller read) the file must still hold that content
    right before the swap, else WorkbookChanged. The swap is an exchange of the two files where the OS
    has one (Linux): the file taken out must be the one just hashed (inode, size, mtime), and a save that
    slipped in between is swapped back, so no edit is lost even in the last microseconds. Elsewhere it is
    ``os.replace`` right after a size/mtime/inode check. Then an fsync of the folder. Any failure removes
    the temp file (and the backup just made) and re-raises. Returns the backup's path, or None.
    """
    target = Path(path)
    tmp = temp_path(target)
    backup: Path | None = None
    replaced = False
    try:
        ops.write(tmp, write_fn)
        if not tmp.exists():
            raise FileNotFoundError(errno.ENOENT, "the writer produced no file", str(tmp))
        if target.exists():
            # Keep the permissions people gave the workbook (a shared folder's group bits, read-only others).
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        ops.fsync(tmp)
        if before_replace is not None:
            before_replace(tmp)
        if check is not None:
            check()
        if backups > 0 and target.exists():
            backup_dir(target).mkdir(exist_ok=True)
            backup = _new_backup_path(target)
            if original is not None:
                ops.backup(original, backup)
            elif expected is not None:  # a copy of the file, refused unless it still holds what was read
                ops.backup_as_read(target, backup, expected)
            else:
                ops.copy(target, backup)
        seen = _unchanged(target, expected) if expected is not None else None
        if seen is not None and ops.exchange(tmp, target):
            replaced = True
            # The file taken out must be the very one we hashed (same inode, size and mtime): a stat, so a
            # save that slipped in is put back within microseconds, not after hashing it.
            if _stat_key(os.stat(tmp)) != seen:
                _swap_back(tmp, target, ops)
                replaced = False
                raise _changed(target, "was saved by another program just as we replaced it; their version is kept")
            _quiet_unlink(tmp)  # the version we read, kept as the backup
        else:
            if seen is not None and _stat_key(os.stat(target)) != seen:
                raise _changed(target)
            ops.replace(tmp, target)
            replaced = True
    except BaseException:
        if not replaced:
            _quiet_unlink(tmp)
            if backup is not None:
                _quiet_unlink(backup)
        raise
    try:
        ops.fsync_dir(target.parent)
    except OSError as e:
        # The new file is in place for everyone reading it; only its survival of a power cut is in doubt.
        # Failing here would make the caller save the change set again and apply it twice.
        import logging

        logging.getLogger(__name__).warning("could not sync folder %s after writing %s: %s", target.parent, target.name, e)
    if backups > 0:
        try:
            rotate_backups(target, backups, ops)
        except OSError:
            pass  # an old backup we could not delete is not worth failing a write that succeeded
    return backup


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _unchanged(target: Path, expected: Fingerprint) -> tuple[int, int, int, int]:
    """Raise WorkbookChanged unless ``target`` holds ``expected``'s content; returns its stat to compare
    again right before the rename (a hash takes milliseconds, a stat microseconds)."""
    try:
        with open(target, "rb") as f:
            st = os.fstat(f.fileno())
            h = hashlib.sha256()
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except FileNotFoundError:
        raise _changed(target, "was moved or deleted since it was read") from None
    if (st.st_size, h.hexdigest()) != (expected.size, expected.sha256):
        raise _changed(target)
    return _stat_key(st)


def _swap_back(tmp: Path, target: Path, ops: FileOps) -> None:
    try:
        if not ops.exchange(tmp, target):
            raise OSError(errno.ENOTSUP, "cannot exchange files")
    except OSError as e:
        raise CrmSheetsError(
            f"{target.name} was saved by another program just as we replaced it, and putting their version back "
            f"failed ({e.strerror or e}); their version is in {tmp.name}",
            hint=f"rename {tmp.name} to {target.name} to keep their edit (ours is in {target.name} now)",
        ) from e
    _quiet_unlink(tmp)


def _changed(target: Path, what: str = "changed on disk since it was read") -> WorkbookChanged:
    return WorkbookChanged(f"{target.name} {what}; nothing was written", hint="run again to work on the fresh data")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Callable[..., int] | None | bool = False  # False: not looked up yet


def _exchange(a: Path, b: Path) -> bool:
    global _renameat2
    if not sys.platform.startswith("linux"):
        return False
    if _renameat2 is False:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fn = getattr(libc, "renameat2", None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                fn.restype = ctypes.c_int
            _renameat2 = fn
        except OSError:
            _renameat2 = None
    if not _renameat2:
        return False
    import ctypes

    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False  # this file system cannot exchange: the caller renames instead
    raise OSError(err, os.strerror(err), str(b))


def _quiet_unlink(p: Path) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass
    except OSError:
        pass
