"""Delivery: each due item is claimed in one statement (queued -> sending, with a lease naming the deliverer), sent
through its channel with the point of no return recorded before it is passed, and settled; items left `sending` by
a deliverer that died are settled first. The Outbox (store.py) delivers through this mixin.
"""
from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from contextlib import closing
from datetime import datetime
from typing import Any, Mapping

from crm_sheets.model.effects import MAX_ATTEMPTS
from crm_sheets.outbox.items import (IDEMPOTENT_KINDS, LEASE_SECONDS, SELECT_ITEMS, Deferred, DeliveryError,
                                     DeliveryReport, OutboxItem, PermanentFailure, Transport, UncertainDelivery,
                                     error_text, item_of_row, LostClaim, out_of_tries)


def _deferral(transport: Any, item: OutboxItem) -> str | None:
    """Why the transport would not try ``item`` in this run (its server did not answer, its time is up), or None."""
    check = getattr(transport, "deferral", None)
    return check(item) if check is not None else None


def _deliverer_name() -> str:
    """Who holds a lease: host, process and a nonce (two deliveries in one process are two deliverers)."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def _abandoned(item: OutboxItem) -> bool:
    """A `sending` item whose deliverer is gone: its lease ran out, or its process on this host has ended."""
    if item.lease_owner is None or item.lease_until is None or time.time() > item.lease_until:
        return True
    host, _, rest = item.lease_owner.partition("/")
    pid = rest.partition("/")[0]
    return host == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid))


def _process_alive(pid: int) -> bool:
    """Whether a process of this host still runs (a zombie does not). Unsure means alive: the lease decides."""
    if os.name != "posix":
        return True  # os.kill(pid, 0) would stop the process on Windows
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True



class Delivery:
    """Delivering the queue of an Outbox (which gives ``_connect``, ``_items`` and ``counts``)."""

    def deliver(self, transports: Mapping[str, Transport], now: datetime, *, lease: float = LEASE_SECONDS,
                owner: str | None = None) -> DeliveryReport:
        """Deliver every queued item, and failed ones with tries left, whose kind has a transport.

        Safe with several deliveries at once (two runs, two processes): each item is claimed in one statement
        before it is sent, and one that another delivery holds is left to it. Items left `sending` by a
        delivery that died are settled first: queued again when it died before the point of no return,
        else unknown (an email, a chat post) or posted again (a webhook, same Idempotency-Key)."""
        me = owner or _deliverer_name()
        report = DeliveryReport()
        stamp = now.isoformat(timespec="seconds")
        deferred: list[tuple[OutboxItem, str]] = []
        try:
            with closing(self._connect()) as db:
                self._settle_abandoned(db, stamp, report)
                for item in self._due(db, list(transports)):
                    if isinstance(item, str):
                        report.waiting.append(item)  # no channel for its kind: it waits (its payload never read)
                        continue
                    transport = transports[item.kind]
                    if (why := _deferral(transport, item)) is not None:
                        deferred.append((item, why))  # its channel is down for this run: not claimed, not tried
                    elif self._claim(db, item, me, lease, stamp):
                        self._send(db, item, transport, me, lease, stamp, report)
                    else:
                        report.busy.append(item.key)  # another delivery took it since we looked
                self._note_deferred(db, deferred, stamp, report)
        finally:
            for transport in transports.values():
                close = getattr(transport, "close", None)
                if close is not None:
                    close()
        report.totals = self.counts()
        return report

    @staticmethod
    def _due(db: sqlite3.Connection, kinds: list[str]) -> list[OutboxItem | str]:
        """The items a delivery looks at, queued ones first, then failed ones, each in queue order, less those out of
        tries (refused for good, or a person decides: --retry-failed): an item whose kind has a channel in
        ``kinds`` whole, any other by its key alone (it waits; its payload is not read: at 30k leads, thousands
        of emails without SMTP settings cost 0.08 s a run to load for nothing). One snapshot for the lookups."""
        out: list[OutboxItem | str] = []
        marks = ", ".join("?" * len(kinds))
        db.execute("BEGIN")
        try:
            for status in ("queued", "failed"):
                light = db.execute("SELECT key, kind, attempts FROM items WHERE status = ? ORDER BY queued_at, key",
                                   (status,)).fetchall()
                whole = {}
                if kinds and any(kind in kinds and tries < MAX_ATTEMPTS for _, kind, tries in light):
                    whole = {i.key: i for i in map(item_of_row, db.execute(
                        f"{SELECT_ITEMS} WHERE status = ? AND kind IN ({marks}) AND attempts < ?",
                        (status, *kinds, MAX_ATTEMPTS)))}
                for key, kind, tries in light:
                    if tries < MAX_ATTEMPTS:
                        out.append(whole[key] if kind in kinds else key)
        finally:
            db.execute("COMMIT")
        return out

    def _note_deferred(self, db: sqlite3.Connection, deferred: list[tuple[OutboxItem, str]], stamp: str,
                       report: DeliveryReport) -> None:
        """Why the items a down channel skipped wait, written in one transaction (one sync, however many)."""
        if not deferred:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            for item, why in deferred:
                db.execute("UPDATE items SET error = ? WHERE key = ? AND status = ? AND attempts = ?",
                           (error_text(why), item.key, item.status, item.attempts))
                report.deferred.append(item.key)
                report.reasons.setdefault(item.kind, error_text(why) or "")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _claim(self, db: sqlite3.Connection, item: OutboxItem, me: str, lease: float, stamp: str) -> bool:
        """queued/failed -> sending, ours, in one statement that only succeeds if nobody moved it since we read it."""
        cur = db.execute(
            "UPDATE items SET status = 'sending', handed = 0, lease_owner = ?, lease_until = ?, updated_at = ?"
            " WHERE key = ? AND status = ? AND attempts = ? AND attempts < ?",
            (me, time.time() + lease, stamp, item.key, item.status, item.attempts, MAX_ATTEMPTS),
        )
        return cur.rowcount == 1

    def _send(self, db: sqlite3.Connection, item: OutboxItem, transport: Transport, me: str, lease: float, stamp: str,
              report: DeliveryReport) -> None:
        handed: list[bool] = []

        def mark_sending() -> None:
            # The point of no return, recorded durably before it is passed, and only while the item is still ours.
            cur = db.execute(
                "UPDATE items SET handed = 1, lease_until = ? WHERE key = ? AND status = 'sending' AND lease_owner = ? AND handed = 0",
                (time.time() + lease, item.key, me),
            )
            if cur.rowcount != 1:
                raise LostClaim(item.key)
            handed.append(True)

        def finish(status: str, error: str | None, attempts: str = "attempts + 1") -> None:
            allowed = "('sending', 'unknown')" if status == "sent" else "('sending')"  # a late 250 beats a guess
            db.execute(
                f"UPDATE items SET status = ?, error = ?, updated_at = ?, attempts = {attempts}"
                f" WHERE key = ? AND lease_owner = ? AND status IN {allowed}",
                (status, error_text(error), stamp, item.key, me),
            )

        try:
            transport.send(item, mark_sending)
        except LostClaim:
            report.busy.append(item.key)
        except Deferred as exc:
            finish(item.status, str(exc), attempts="attempts")  # back as it was: no try counted
            report.deferred.append(item.key)
            report.reasons.setdefault(item.kind, error_text(str(exc)) or "")
        except PermanentFailure as exc:
            finish("failed", str(exc), attempts=str(MAX_ATTEMPTS))
            report.failed.append(item.key)
        except UncertainDelivery as exc:
            if item.kind in IDEMPOTENT_KINDS:
                finish("failed", out_of_tries(f"{exc}; posted again with the same Idempotency-Key", item.attempts + 1))
                report.failed.append(item.key)
            else:
                finish("unknown", f"{exc}: check whether it arrived, then confirm")
                report.unknown.append(item.key)
        except (DeliveryError, OSError) as exc:
            # A try that failed before the point of no return counts too, so an unreachable server is not
            # retried forever: after MAX_ATTEMPTS a person decides (crm-sheets outbox --retry-failed).
            finish("failed", out_of_tries(str(exc) or type(exc).__name__, item.attempts + 1))
            report.failed.append(item.key)
        except BaseException:
            # A bug or Ctrl-C: settle the item as a crash would be settled, then let the error show.
            if handed:
                unsure = "failed" if item.kind in IDEMPOTENT_KINDS else "unknown"
                finish(unsure, "interrupted while sending: check whether it arrived, then confirm")
            else:
                finish(item.status, item.error, attempts="attempts")
            raise
        else:
            finish("sent", None)
            report.sent.append(item.key)

    def _settle_abandoned(self, db: sqlite3.Connection, stamp: str, report: DeliveryReport) -> None:
        """Items left `sending` by a delivery that died (its process is gone, or its lease ran out)."""
        for item in self._items(db, "sending"):
            if not _abandoned(item):
                report.busy.append(item.key)
                continue
            handed = item.handed or item.lease_owner is None  # older versions marked `sending` at the point of no return
            if not handed:
                status, error, attempts = "queued", item.error, "attempts"
            elif item.kind in IDEMPOTENT_KINDS:
                status, attempts = "failed", "attempts + 1"
                error = out_of_tries("interrupted while posting; posted again with the same Idempotency-Key", item.attempts + 1)
            else:
                status, error, attempts = "unknown", "interrupted while sending: check whether it arrived, then confirm", "attempts + 1"
            cur = db.execute(
                f"UPDATE items SET status = ?, error = ?, updated_at = ?, attempts = {attempts}"
                " WHERE key = ? AND status = 'sending' AND lease_owner IS ? AND handed = ?",
                (status, error_text(error), stamp, item.key, item.lease_owner, int(item.handed)),
            )
            if cur.rowcount and status == "unknown":
                report.unknown.append(item.key)
