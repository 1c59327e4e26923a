"""Where a `crm-sheets` command's time and memory go, phase by phase (read, each job, check's second look,
the plan, the write, the states): wall, CPU, RSS before and after, and the peak RSS within the phase.

    python benchmarks/run_phases.py run big.xlsx --json --now 2026-03-15T09:00 > out.json 2> phases.txt

The arguments are those of `crm-sheets`. The main functions are wrapped by name and the table goes to stderr at
exit; the peak of a phase is read from VmHWM after resetting it (Linux: /proc/self/clear_refs), so a nested
phase resets its parent's peak (read the outer rows' peak as a lower bound)."""
import atexit
import functools
import importlib
import resource
import sys
import time

def rss():
    with open('/proc/self/status') as f:
        d = dict(l.split(':', 1) for l in f)
    return int(d['VmRSS'].split()[0]) // 1024, int(d['VmHWM'].split()[0]) // 1024

def reset_peak():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass

rows = []
depth = [0]
def wrap(modname, qual, label):
    mod = importlib.import_module(modname)
    owner = mod
    parts = qual.split('.')
    for p in parts[:-1]:
        owner = getattr(owner, p)
    fn = getattr(owner, parts[-1])
    @functools.wraps(fn)
    def inner(*a, **k):
        l = label
        before = rss()[0]
        reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        depth[0] += 1
        try:
            return fn(*a, **k)
        finally:
            depth[0] -= 1
            now, peak = rss()
            rows.append((depth[0], l, time.perf_counter() - t0, time.process_time() - c0, before, now, peak))
    setattr(owner, parts[-1], inner)
    return inner

import crm_sheets.runner as runner
orig_jf = runner.job_function
def job_function(name):
    fn = orig_jf(name)
    if fn is None: return fn
    @functools.wraps(fn)
    def inner(*a, **k):
        before = rss()[0]; reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        depth[0] += 1
        try:
            return fn(*a, **k)
        finally:
            depth[0] -= 1
            now, peak = rss()
            rows.append((depth[0], 'job ' + name, time.perf_counter() - t0, time.process_time() - c0, before, now, peak))
    return inner
runner.job_function = job_function
wrap('crm_sheets.store.xlsx.store', 'XlsxStore.read', 'read')
wrap('crm_sheets.runner', '_check_again', 'check again')
wrap('crm_sheets.runner', '_settle', 'dedupe settle')
wrap('crm_sheets.runner', 'audit_rows', 'audit rows')
wrap('crm_sheets.runner', '_queue', 'outbox queue')
wrap('crm_sheets.runner', 'run_notes', 'run notes')
wrap('crm_sheets.store.xlsx.store', 'XlsxStore.apply', 'write (apply)')
wrap('crm_sheets.outbox', 'Outbox.commit_states', 'state commit')
wrap('crm_sheets.outbox', 'Outbox.prepare_states', 'state prepare')
wrap('crm_sheets.outbox', 'Outbox.deliver', 'deliver')
wrap('crm_sheets.store.core.plan', 'make_plan', 'make_plan')
wrap('crm_sheets.store.xlsx.writer', 'apply_changeset', 'apply_changeset')
wrap('crm_sheets.store.xlsx.store', 'XlsxStore.remember_tables', 'remember tables')
wrap('crm_sheets.settled', 'record_run', 'record run')
wrap('crm_sheets.settled', '_confirm', 'confirming pass')
wrap('crm_sheets.settled', 'record', 'record')
wrap('crm_sheets.spill', 'Aside.findings_of', 'spill findings')
wrap('crm_sheets.spill', 'Aside.changes_of', 'spill changes')
wrap('crm_sheets.spill', 'Aside.put_back', 'spill put back')

T0 = time.perf_counter(); C0 = time.process_time()
@atexit.register
def show():
    out = sys.stderr
    print(f"{'phase':<24}{'wall':>8}{'cpu':>8}{'rss0':>7}{'rss1':>7}{'peak':>7}", file=out)
    for d, l, w, c, b, n, p in rows:
        print(f"{'  '*d + l:<24}{w:8.2f}{c:8.2f}{b:7d}{n:7d}{p:7d}", file=out)
    print(f"total wall {time.perf_counter()-T0:.2f} cpu {time.process_time()-C0:.2f} maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss//1024} MB", file=out)

from crm_sheets.cli import cli as main
sys.argv = ['crm-sheets'] + sys.argv[1:]
main()
