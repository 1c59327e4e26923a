# crm-sheets for LibreOffice Calc: Tools > Macros > Run Macro... > My Macros > crm_sheets > refresh, check
# or dedupe. Installed by `crm-sheets add-buttons --libreoffice`, which fills in INTERPRETER and PYTHONPATH.
#
# LibreOffice runs this file on its own Python, which cannot import crm-sheets, so the jobs run in the
# Python crm-sheets was installed into, as a subprocess. The file store refuses a workbook that is open
# (LibreOffice keeps a .~lock.NAME# file beside it), so the macro saves your edits, closes the workbook,
# runs the jobs on the file, reopens it where you were and tells you how it went.
import os
import subprocess
import sys
import time

INTERPRETER = None  # the Python that has crm-sheets (sys.executable when it was installed)
PYTHONPATH = None  # where crm_sheets is importable from (a source checkout need not be installed)
TITLE = "crm-sheets"


def refresh(*_event):
    """Every job (check, dedupe, automate, report), as the Refresh button in Excel."""
    return _press("refresh")


def check(*_event):
    """Check the workbook and apply the safe fixes."""
    return _press("check")


def dedupe(*_event):
    """Merge the duplicates."""
    return _press("dedupe")


g_exportedScripts = (refresh, check, dedupe)


def _press(job):
    """Run ``job`` on the calling workbook and return the text shown to the person (for tests and callers)."""
    import uno

    doc = XSCRIPTCONTEXT.getDocument()  # noqa: F821 - given to every macro by LibreOffice
    if doc is None or not hasattr(doc, "getURL"):
        return _tell(None, "Open a crm-sheets workbook first, then run the macro from its window.", error=True)
    url = doc.getURL()
    if not url:
        return _tell(doc, "Save the workbook as an Excel workbook (.xlsx) first: the jobs work on its file.", error=True)
    path = uno.fileUrlToSystemPath(url)
    if not path.lower().endswith((".xlsx", ".xlsm")):
        return _tell(doc, "crm-sheets works on Excel workbooks: File > Save As... > Excel 2007-365 (.xlsx), "
                          "then run the macro again.", error=True)
    if doc.isModified():
        # The jobs read the file, and the workbook is reopened from it afterwards: edits not saved now
        # would be left out of the run and then lost. So Refresh saves first, as Excel's button works
        # on what is on screen.
        if doc.isReadonly():
            return _tell(doc, "This workbook is open read-only and has unsaved changes: save a copy "
                              "(File > Save As...), open it, and run the macro there.", error=True)
        try:
            doc.store()
        except Exception as exc:  # IOException: a full disk, a file made read-only meanwhile
            return _tell(doc, "The workbook could not be saved (%s); nothing was run." % exc, error=True)
    view = _view_of(doc)
    load_args = _load_args(doc)
    try:
        doc.close(True)  # the only way LibreOffice gives up its lock on the file
    except Exception as exc:  # CloseVetoException: something (an open dialog, a print job) holds it
        return _tell(doc, "LibreOffice would not close the workbook (%s): close its dialogs and try again." % exc,
                     error=True)
    _wait_for_lock_release(path)
    code, text = _run_jobs(job, path)
    doc = _reopen(url, load_args, view)
    return _tell(doc, text, error=code not in (0, 1))


def _run_jobs(job, path):
    """Run the jobs in crm-sheets' own Python; (exit code, what it printed)."""
    if not INTERPRETER or not os.path.exists(INTERPRETER):
        return 2, ("crm-sheets' Python was not found (%s). Run `crm-sheets add-buttons --libreoffice` again "
                   "in the environment crm-sheets is installed in." % INTERPRETER)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "PYTHONEXECUTABLE")}
    if PYTHONPATH:  # LibreOffice's own Python settings would break another Python: give it only its own
        env["PYTHONPATH"] = PYTHONPATH
    env["PYTHONIOENCODING"] = "utf-8"
    flags = 0x08000000 if sys.platform == "win32" else 0  # CREATE_NO_WINDOW: no console flashing on Windows
    try:
        done = subprocess.run([INTERPRETER, "-m", "crm_sheets.libreoffice", job, path], capture_output=True,
                              env=env, creationflags=flags, stdin=subprocess.DEVNULL)
    except OSError as exc:
        return 2, "crm-sheets could not start %s: %s" % (INTERPRETER, exc)
    out = done.stdout.decode("utf-8", "replace").strip()
    err = done.stderr.decode("utf-8", "replace").strip()
    return done.returncode, "\n".join(t for t in (out, err) if t) or "crm-sheets ended with code %d" % done.returncode


def _wait_for_lock_release(path, seconds=5.0):
    folder, name = os.path.split(path)
    lock = os.path.join(folder, ".~lock." + name + "#")
    end = time.monotonic() + seconds
    while os.path.exists(lock) and time.monotonic() < end:
        time.sleep(0.1)


def _load_args(doc):
    from com.sun.star.beans import PropertyValue

    keep = []
    for arg in doc.getArgs():
        if arg.Name in ("FilterName", "Hidden"):  # same format; hidden stays hidden (headless use)
            keep.append(PropertyValue(Name=arg.Name, Value=arg.Value))
    return tuple(keep)


def _view_of(doc):
    """The sheet and window the person was looking at, to come back to them."""
    view = {}
    try:
        controller = doc.getCurrentController()
        view["sheet"] = controller.getActiveSheet().getName()
        view["pos"] = controller.getFrame().getContainerWindow().getPosSize()
    except Exception:  # no view (a document loaded without one): nothing to restore
        pass
    return view


def _reopen(url, load_args, view):
    desktop = XSCRIPTCONTEXT.getDesktop()  # noqa: F821
    try:
        doc = desktop.loadComponentFromURL(url, "_blank", 0, load_args)
    except Exception:
        return None
    try:
        controller = doc.getCurrentController()
        if view.get("sheet") and doc.getSheets().hasByName(view["sheet"]):
            controller.setActiveSheet(doc.getSheets().getByName(view["sheet"]))
        frame = controller.getFrame()
        if "pos" in view:
            p = view["pos"]
            frame.getContainerWindow().setPosSize(p.X, p.Y, p.Width, p.Height, 15)  # PosSize.POSSIZE
        frame.activate()  # the reopened workbook is the current one again
        desktop.setActiveFrame(frame)
    except Exception:  # a view that cannot be restored is no reason to fail the run
        pass
    return doc


def _tell(doc, text, error=False):
    """A message box over the workbook's window; the text is returned too."""
    try:
        from com.sun.star.awt.MessageBoxType import ERRORBOX, INFOBOX

        ctx = XSCRIPTCONTEXT.getComponentContext()  # noqa: F821
        toolkit = ctx.ServiceManager.createInstanceWithContext("com.sun.star.awt.Toolkit", ctx)
        parent = None
        if doc is not None:
            parent = doc.getCurrentController().getFrame().getContainerWindow()
        box = toolkit.createMessageBox(parent, ERRORBOX if error else INFOBOX, 1, TITLE, text)  # 1: OK button
        box.execute()
    except Exception:  # no window to show it in (headless): the caller still gets the text
        pass
    return text
