"""The VBA project of a crm-sheets macro workbook: xlwings' own project plus a CrmSheets module.

xlwings ships a VBA project (its `xlwings` module with RunPython, BSD-3, notice kept in the module)
in quickstart_standalone.xlsm. We take it as it is and replace its sample module by ours, whose Subs
the buttons call; the project is written back as a compound file (MS-CFB) with MS-OVBA compression.
The project carries source only (no compiled p-code), so Excel compiles it for its own version.
"""
from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

MODULE = "CrmSheets"
SAMPLE_MODULE = "Module1"  # the quickstart's sample module, replaced by ours
BUTTONS = (("Refresh", "CrmRefresh", "run"), ("Check", "CrmCheck", "check"), ("Dedupe", "CrmDedupe", "dedupe"))
ENTRY_MODULE = "crm_sheets.excel"
ENTRY_FUNCTION = "refresh"


def xlwings_version() -> str:
    import xlwings

    return xlwings.__version__


def xlwings_project() -> bytes:
    """The vbaProject.bin xlwings ships with its standalone quickstart workbook (matches the installed xlwings)."""
    try:
        import xlwings
    except ImportError:
        from crm_sheets.errors import UsageError

        raise UsageError("macro workbooks need xlwings", hint="pip install 'crm-sheets[excel]'") from None
    with zipfile.ZipFile(Path(xlwings.__file__).parent / "quickstart_standalone.xlsm") as z:
        return z.read("xl/vbaProject.bin")


def python_command(job: str) -> str:
    """The Python command a button's Sub gives RunPython."""
    return f"import {ENTRY_MODULE}; {ENTRY_MODULE}.{ENTRY_FUNCTION}('{job}', vba='{xlwings_version()}')"


def module_source() -> str:
    """The CrmSheets module: one Sub per button, each checking the set-up before calling RunPython."""
    version = xlwings_version()
    subs = []
    for caption, sub, job in BUTTONS:
        subs.append(
            f"Sub {sub}()\r\n"
            f"    ' The {caption} button: {'every job' if job == 'run' else 'the ' + job + ' job'} on this workbook.\r\n"
            f"    If Not CrmReady() Then Exit Sub\r\n"
            f"    RunPython \"{python_command(job)}\"\r\n"
            f"End Sub\r\n"
        )
    return (
        f'Attribute VB_Name = "{MODULE}"\r\n'
        "' crm-sheets buttons. Each Sub runs crm-sheets through xlwings' RunPython (module xlwings, BSD-3).\r\n"
        "' The workbook is found by its own full name at each click, so renaming or moving it is fine.\r\n"
        f'Const CRM_XLWINGS_VERSION As String = "{version}"\r\n'
        "\r\n"
        + "\r\n".join(subs)
        + "\r\n"
        "Private Function CrmReady() As Boolean\r\n"
        "    ' A clear message instead of a failed DLL load or a Python error when the set-up is missing.\r\n"
        "    Dim interpreter As String\r\n"
        "    #If Mac Then\r\n"
        '        interpreter = GetConfig("INTERPRETER_MAC", "")\r\n'
        "    #Else\r\n"
        '        interpreter = GetConfig("INTERPRETER_WIN", "")\r\n'
        "    #End If\r\n"
        '    If interpreter <> "" And Not FileExists(interpreter) Then\r\n'
        '        MsgBox "crm-sheets: the Python of the xlwings.conf sheet (" & interpreter & ") does not exist on this computer." _\r\n'
        '            & vbCrLf & "Run: crm-sheets add-buttons """ & ThisWorkbook.FullName & """ --configure", vbExclamation, "crm-sheets"\r\n'
        "        CrmReady = False\r\n"
        "        Exit Function\r\n"
        "    End If\r\n"
        "    CrmReady = True\r\n"
        "End Function\r\n"
    )


def crm_project() -> bytes:
    """xlwings' project with its sample module replaced by the CrmSheets module."""
    return replace_module(xlwings_project(), SAMPLE_MODULE, MODULE, module_source())


# ---------------------------------------------------------------------------------------------
# MS-OVBA: compression (2.4.1) and the dir stream


def decompress(data: bytes) -> bytes:
    if not data or data[0] != 1:
        raise ValueError("not an MS-OVBA compressed container")
    out = bytearray()
    pos = 1
    while pos < len(data):
        header = struct.unpack_from("<H", data, pos)[0]
        end = min(pos + (header & 0x0FFF) + 3, len(data))
        pos += 2
        start = len(out)
        if not header & 0x8000:  # a raw chunk
            out += data[pos:pos + 4096]
            pos += 4096
            continue
        while pos < end:
            flags = data[pos]
            pos += 1
            for bit in range(8):
                if pos >= end:
                    break
                if not flags >> bit & 1:
                    out.append(data[pos])
                    pos += 1
                    continue
                token = struct.unpack_from("<H", data, pos)[0]
                pos += 2
                count = max((len(out) - start - 1).bit_length(), 4)
                offset = (token >> (16 - count)) + 1
                for _ in range((token & (0xFFFF >> count)) + 3):
                    out.append(out[-offset])
    return bytes(out)


def compress(data: bytes) -> bytes:
    """MS-OVBA compression: chunks of 4096 bytes, copy tokens for repeats found through a 3-byte index."""
    out = bytearray(b"\x01")
    for c in range(0, len(data), 4096):
        chunk = data[c:c + 4096]
        body = _compress_chunk(chunk)
        if len(body) > 4096 and len(chunk) == 4096:
            out += struct.pack("<H", 0x3FFF) + chunk  # raw: incompressible
        else:
            out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
    return bytes(out)


def _compress_chunk(chunk: bytes) -> bytes:
    out = bytearray()
    index: dict[bytes, list[int]] = {}
    pos = 0
    while pos < len(chunk):
        flag_at = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if pos >= len(chunk):
                break
            count = max((pos - 1).bit_length(), 4)
            max_len = (0xFFFF >> count) + 3
            best_len = best_off = 0
            for cand in reversed(index.get(chunk[pos:pos + 3], [])[-64:]):
                n = 0
                while n < max_len and pos + n < len(chunk) and chunk[cand + n] == chunk[pos + n]:
                    n += 1
                if n > best_len:
                    best_len, best_off = n, pos - cand
            step = 1
            if best_len >= 3:
                flags |= 1 << bit
                out += struct.pack("<H", ((best_off - 1) << (16 - count)) | (best_len - 3))
                step = best_len
            else:
                out.append(chunk[pos])
            for p in range(pos, pos + step):
                index.setdefault(chunk[p:p + 3], []).append(p)
            pos += step
        out[flag_at] = flags
    return bytes(out)


def _records(dir_stream: bytes) -> list[tuple[int, bytes]]:
    """The dir stream as (id, data) records (PROJECTVERSION's data is 6 bytes whatever its size says)."""
    out, pos = [], 0
    while pos < len(dir_stream):
        rid, size = struct.unpack_from("<HI", dir_stream, pos)
        pos += 6
        if rid == 0x0009:
            size = 6
        out.append((rid, dir_stream[pos:pos + size]))
        pos += size
    return out


def _pack(records: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for rid, data in records:
        out += struct.pack("<HI", rid, 4 if rid == 0x0009 else len(data)) + data
    return bytes(out)


def replace_module(project: bytes, old: str, new: str, source: str) -> bytes:
    """``project`` with module ``old`` renamed ``new`` and holding ``source`` (text, no p-code)."""
    streams = read_cfb(project)
    records = _records(decompress(streams["VBA/dir"]))
    codepage = next((struct.unpack("<H", d)[0] for rid, d in records if rid == 0x0003), 1252)
    enc = f"cp{codepage}"
    out, in_module = [], False
    for rid, data in records:
        if rid == 0x0019:  # MODULENAME starts a module
            in_module = data.decode(enc) == old
            if in_module:
                data = new.encode(enc)
        elif in_module and rid in (0x0047, 0x0032):  # MODULENAMEUNICODE, MODULESTREAMNAME (unicode part)
            data = new.encode("utf-16-le")
        elif in_module and rid == 0x001A:  # MODULESTREAMNAME
            data = new.encode(enc)
        elif in_module and rid == 0x0031:  # MODULEOFFSET: the source starts the stream
            data = struct.pack("<I", 0)
        out.append((rid, data))
    streams["VBA/dir"] = compress(_pack(out))
    del streams[f"VBA/{old}"]
    streams[f"VBA/{new}"] = compress(source.encode(enc))
    project_text = streams["PROJECT"].decode(enc)
    project_text = re.sub(rf"(?m)^Module={re.escape(old)}\r?$", f"Module={new}", project_text)
    project_text = re.sub(rf"(?m)^{re.escape(old)}=", f"{new}=", project_text)
    streams["PROJECT"] = project_text.encode(enc)
    wm = streams["PROJECTwm"]
    streams["PROJECTwm"] = wm.replace(old.encode(enc) + b"\0" + old.encode("utf-16-le") + b"\0\0",
                                      new.encode(enc) + b"\0" + new.encode("utf-16-le") + b"\0\0")
    return write_cfb(streams)


# ---------------------------------------------------------------------------------------------
# MS-CFB: a compound file, version 3 (512-byte sectors), read and written whole

_FREE, _END, _FAT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


def read_cfb(data: bytes) -> dict[str, bytes]:
    """Every stream of a compound file, by path ("VBA/dir")."""
    import io

    import olefile

    ole = olefile.OleFileIO(io.BytesIO(data))
    try:
        return {"/".join(p): ole.openstream(p).read() for p in ole.listdir(streams=True, storages=False)}
    finally:
        ole.close()


def write_cfb(streams: dict[str, bytes]) -> bytes:
    """A compound file holding ``streams`` (paths with "/" make storages). Small streams go to the mini stream."""
    # the tree: root -> storages and streams
    entries = [{"name": "Root Entry", "type": 5, "children": [], "data": b""}]
    storages = {"": 0}
    for path in sorted(streams):
        parts = path.split("/")
        parent = ""
        for i, part in enumerate(parts[:-1]):
            key = "/".join(parts[:i + 1])
            if key not in storages:
                storages[key] = len(entries)
                entries.append({"name": part, "type": 1, "children": [], "data": b""})
                entries[storages[parent]]["children"].append(storages[key])
            parent = key
        entries.append({"name": parts[-1], "type": 2, "children": [], "data": streams[path]})
        entries[storages[parent]]["children"].append(len(entries) - 1)

    sectors: list[bytes] = []
    fat: list[int] = []

    def allocate(blob: bytes, size: int, table: list[int], store: list[bytes]) -> int:
        if not blob:
            return _END
        first = len(store)
        n = -(-len(blob) // size)
        for i in range(n):
            store.append(blob[i * size:(i + 1) * size].ljust(size, b"\0"))
            table.append(first + i + 1 if i < n - 1 else _END)
        return first

    mini: list[bytes] = []
    minifat: list[int] = []
    for e in entries:
        if e["type"] == 2:
            small = len(e["data"]) < 4096
            e["start"] = allocate(e["data"], 64 if small else 512, minifat if small else fat, mini if small else sectors)
            e["size"] = len(e["data"])
    mini_stream = b"".join(mini)
    entries[0]["start"] = allocate(mini_stream, 512, fat, sectors)
    entries[0]["size"] = len(mini_stream)
    minifat_blob = b"".join(struct.pack("<I", x) for x in minifat)
    minifat_start = allocate(minifat_blob, 512, fat, sectors) if minifat else _END

    for e in entries:  # each storage's children as a balanced binary tree (all black)
        kids = sorted(e["children"], key=lambda i: (len(entries[i]["name"]), entries[i]["name"].upper()))
        e["child"] = _tree(kids, entries)
    dir_blob = b"".join(_dir_entry(e) for e in entries)
    dir_blob += b"".join(_dir_entry(None) for _ in range((-len(entries)) % 4))
    dir_start = allocate(dir_blob, 512, fat, sectors)

    n_fat = 1
    while (len(fat) + n_fat) > n_fat * 128:
        n_fat += 1
    if n_fat > 109:
        raise ValueError("VBA project too large for a compound file without DIFAT sectors")
    fat_first = len(fat)
    fat += [_FAT] * n_fat
    fat += [_FREE] * (n_fat * 128 - len(fat))
    fat_blob = b"".join(struct.pack("<I", x) for x in fat)
    sectors += [fat_blob[i * 512:(i + 1) * 512] for i in range(n_fat)]

    header = bytearray(_MAGIC + b"\0" * 16)
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6) + b"\0" * 6
    header += struct.pack("<IIIIIIIII", 0, n_fat, dir_start, 0, 4096, minifat_start,
                          -(-len(minifat_blob) // 512) if minifat else 0, _END, 0)
    difat = [fat_first + i for i in range(n_fat)] + [_FREE] * (109 - n_fat)
    header += b"".join(struct.pack("<I", x) for x in difat)
    assert len(header) == 512
    return bytes(header) + b"".join(sectors)


def _tree(kids: list[int], entries: list[dict]) -> int:
    if not kids:
        return _NOSTREAM
    mid = len(kids) // 2
    node = entries[kids[mid]]
    node["left"], node["right"] = _tree(kids[:mid], entries), _tree(kids[mid + 1:], entries)
    return kids[mid]


def _dir_entry(e: dict | None) -> bytes:
    if e is None:
        return b"\0" * 64 + struct.pack("<HBBIII", 0, 0, 0, _NOSTREAM, _NOSTREAM, _NOSTREAM) + b"\0" * 36 + struct.pack("<IQ", 0, 0)
    name = e["name"].encode("utf-16-le")
    return (name.ljust(64, b"\0") + struct.pack("<HBBIII", len(name) + 2, e["type"], 1, e.get("left", _NOSTREAM),
                                                 e.get("right", _NOSTREAM), e.get("child", _NOSTREAM))
            + b"\0" * 16 + b"\0" * 4 + b"\0" * 16 + struct.pack("<IQ", e.get("start", _END) if e["type"] != 1 else 0,
                                                                 e.get("size", 0)))
