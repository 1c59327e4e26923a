"""Reminders: a digest per owner of tasks due and overdue, deals closing this week and stalled deals.

Sent by an Automations row with the schedule trigger and the Send digest action (weekly on the day it
names, or daily), once per owner, period and channel. Its Template cell names the email template, and
"chat" to post each digest to the team chat too ("digest, chat"; "chat" alone: chat only). The email
has the template's body, then the lists; the chat post has the first lines of each list.
Team members who are away, or have nothing due, get nothing.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crm_sheets.jobs.automate import actions
from crm_sheets.jobs.automate.context import ACTIVITY_LINK, Run
from crm_sheets.jobs.automate.rules import text, ticked
from crm_sheets.jobs.automate.templates import cell, compose, display
from crm_sheets.model import Effect
from crm_sheets.model.normalize import fold, normalize_email
from crm_sheets.model.values import parse_number

OPEN_TASK = {"open", "in_progress"}
HEADINGS = {
    "en": {"tasks": "Tasks due and overdue", "closing": "Deals closing this week", "stalled": "Stalled deals", "overdue": "overdue",
           "weekly": "weekly digest", "daily": "daily digest", "more": "… and {n} more"},
    "fr": {"tasks": "Tâches à faire et en retard", "closing": "Affaires qui se concluent cette semaine", "stalled": "Affaires bloquées", "overdue": "en retard",
           "weekly": "récapitulatif de la semaine", "daily": "récapitulatif du jour", "more": "… et {n} de plus"},
}
CHAT_LINES = 5  # per list in a chat post; the email lists everything


@dataclass
class _Books:
    """What every owner's digest reads, computed once per run: open tasks and open deals with their
    owners folded, closed stages, stalled limits and each deal's last activity."""

    tasks: pd.DataFrame | None
    deals: pd.DataFrame | None
    stalled_after: dict[str, int]
    limit: int
    quiet: dict[str, pd.Timestamp]


def _books(run: Run) -> _Books:
    tasks = run.tables.get("tasks")
    t = None
    if tasks is not None and {"owner", "due", "status"} <= set(tasks.df.columns):
        df = tasks.df
        t = pd.DataFrame({"who": df["owner"].map(lambda v: fold(v) if isinstance(v, str) else ""),
                          "due": pd.to_datetime(df["due"], errors="coerce"),
                          "title": df["title"] if "title" in df.columns else None,
                          "related": df["related"] if "related" in df.columns else None}, index=df.index)
        t = t[df["status"].isin(OPEN_TASK).fillna(False).to_numpy(dtype=bool)]
    deals = run.tables.get("deals")
    d = None
    closed, stalled_after = _stages(run)
    if deals is not None and {"owner", "stage", "close_date"} <= set(deals.df.columns):
        df = deals.df
        d = pd.DataFrame({"who": df["owner"].map(lambda v: fold(v) if isinstance(v, str) else ""),
                          "close": pd.to_datetime(df["close_date"], errors="coerce")}, index=df.index)
        d = d[~df["stage"].map(lambda s: fold(str(s)) in closed).to_numpy(dtype=bool)]
    return _Books(t, d, stalled_after, _stalled_days(run), _last_activity(run))


def digest_for(run: Run, owner: str, *, weekly: bool = True, books: _Books | None = None) -> dict[str, list[dict[str, Any]]]:
    """What one owner's digest lists: tasks (due by the end of the period), deals closing, stalled deals."""
    books = books or _books(run)
    today = run.today
    end = today + pd.Timedelta(days=6 - today.weekday()) if weekly else today
    week_start = today - pd.Timedelta(days=today.weekday())
    out: dict[str, list[dict[str, Any]]] = {"tasks": [], "closing": [], "stalled": []}
    key = fold(owner)
    if books.tasks is not None:
        t = books.tasks
        mine = t[((t["who"] == key) & (t["due"] <= end)).fillna(False).to_numpy(dtype=bool)]
        for rid, title, due, related in zip(mine.index, mine["title"], mine["due"], mine["related"]):
            out["tasks"].append({"id": rid, "title": text(title), "due": due.date().isoformat(),
                                 "overdue": bool(due < today), "related": text(related)})
        out["tasks"].sort(key=lambda t: t["due"])
    if books.deals is not None:
        df = run.tables["deals"].df
        mine = books.deals[(books.deals["who"] == key).to_numpy(dtype=bool)]
        for rid, close in zip(mine.index, mine["close"]):
            line = {"id": rid, "name": text(cell(df, rid, "name")) if "name" in df.columns else "", "stage": text(cell(df, rid, "stage")),
                    "amount": display(run.tables, "deals", "amount", cell(df, rid, "amount")) if "amount" in df.columns else "",
                    "close_date": close.date().isoformat() if not pd.isna(close) else ""}
            if not pd.isna(close) and week_start <= close <= week_start + pd.Timedelta(days=6):
                out["closing"].append(line)
            stage_limit = books.stalled_after.get(fold(line["stage"]))
            last = books.quiet.get(rid)
            if (not pd.isna(close) and close < today - pd.Timedelta(days=books.limit)) or (
                stage_limit and last is not None and last < today - pd.Timedelta(days=stage_limit)):
                out["stalled"].append(line)
    return out


def send_digests(run: Run, automation: Any, period: str) -> None:
    """Each Team member's digest by email (the rule's email template) and/or to the team chat (the rule
    names chat): one idempotency key per member, period and channel."""
    team = run.tables.get("team")
    if team is None or "name" not in team.df.columns:
        return
    weekly = automation.weekday is not None
    books = None  # made for the first member who gets a digest: a period already sent reads no table
    for tmid, member in team.df.iterrows():
        name, email = text(member.get("name")), normalize_email(text(member.get("email"))) if text(member.get("email")) else None
        key = f"{automation.key}:{tmid}:{period}"
        by_email = automation.email is not None and email is not None and not run.has_fired(key)
        by_chat = getattr(automation, "chat", False) and not run.has_fired(f"{key}:chat")
        if not name or ticked(member.get("away")) or not (by_email or by_chat):
            continue
        books = books or _books(run)
        lists = digest_for(run, name, weekly=weekly, books=books)
        if not any(lists.values()):
            continue
        fields = {"owner": name, "owner_first_name": name.split(" ")[0], "count": len(lists["tasks"]),
                  "today": run.today.date().isoformat(), **lists}
        subject = ""
        if automation.email is not None:
            body_text, body_html = _listing(run.lang, lists)
            mail = compose(automation.email.subject, automation.email.body, fields, sender=actions.sender(run), lang=run.lang,
                           unsubscribe=False, appendix_text=body_text, appendix_html=body_html)
            subject = mail.subject
        if by_email:
            payload = {"to": email, "from": actions.sender(run), "subject": mail.subject, "text": mail.text, "html": mail.html, "unsubscribe": ""}
            run.emit(Effect("email", key, payload, "team", str(tmid)))
            run.mark(key)
            run.count("digests")
        if by_chat:
            heading = subject or HEADINGS.get(run.lang, HEADINGS["en"])["weekly" if weekly else "daily"]
            run.emit(Effect("chat", f"{key}:chat", {"text": f"{name} — {heading}\n" + _listing(run.lang, lists, limit=CHAT_LINES)[0]}, "team", str(tmid)))
            run.mark(f"{key}:chat")
            run.count("chat_digests")


def _listing(lang: str, lists: dict[str, list[dict[str, Any]]], limit: int | None = None) -> tuple[str, str]:
    """The digest's lists as text and HTML; ``limit`` keeps the first lines of each (a chat post stays short)."""
    h = HEADINGS.get(lang, HEADINGS["en"])
    text_parts, html_parts = [], []
    for section in ("tasks", "closing", "stalled"):
        items = lists[section]
        if not items:
            continue
        lines = []
        for it in items[:limit]:
            if section == "tasks":
                lines.append(f"{it['due']}  {it['title']}" + (f" ({it['related']})" if it["related"] else "") + (f" — {h['overdue']}" if it["overdue"] else ""))
            else:
                lines.append(f"{it['name']} ({it['id']}) — {it['stage']}" + (f", {it['amount']}" if it["amount"] != "" else "") + (f", {it['close_date']}" if it["close_date"] else ""))
        if limit is not None and len(items) > limit:
            lines.append(h["more"].format(n=len(items) - limit))
        text_parts.append(f"{h[section]} ({len(items)}):\n" + "\n".join(f"- {line}" for line in lines))
        html_parts.append(f"<h3>{html.escape(h[section])} ({len(items)})</h3>\n<ul>\n" + "".join(f"<li>{html.escape(line)}</li>\n" for line in lines) + "</ul>\n")
    return "\n\n".join(text_parts), "".join(html_parts)


def _stages(run: Run) -> tuple[set[str], dict[str, int]]:
    st = run.tables.get("stages")
    if st is None or "stage" not in st.df.columns:
        return set(), {}
    df = st.df
    closed = {fold(str(s)) for s, w, lo in zip(df["stage"], df.get("won", [None] * len(df)), df.get("lost", [None] * len(df))) if ticked(w) or ticked(lo)}
    after = {}
    if "stalled_after_days" in df.columns:
        for s, d in zip(df["stage"], df["stalled_after_days"]):
            if not pd.isna(d):
                after[fold(str(s))] = int(d)
    return closed, after


def _stalled_days(run: Run) -> int:
    v = run.tables.setting("stalled_deal_days", 30)
    n = v if isinstance(v, (int, float)) and not isinstance(v, bool) else parse_number(str(v))
    return int(n) if n is not None else 30


def _last_activity(run: Run) -> dict[str, pd.Timestamp]:
    acts = run.tables.get("activities")
    link = ACTIVITY_LINK["deals"]
    if acts is None or link not in acts.df.columns or "date" not in acts.df.columns:
        return {}
    a = pd.DataFrame({"deal": acts.df[link], "date": pd.to_datetime(acts.df["date"], errors="coerce")}).dropna()
    return a.groupby("deal")["date"].max().dt.normalize().to_dict()
