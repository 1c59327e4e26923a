"""What an automation does to one record: create a task, set a field, send an email, notify the team
chat, post a webhook, add to a campaign. Emails and chat notes are effects for the outbox (never sent
here) and are logged as Activities; marketing email never goes to opted-out or non-consenting people.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crm_sheets.jobs.automate.context import Run
from crm_sheets.jobs.automate.rules import BadRule, value_reader, find_field, text, ticked
from crm_sheets.jobs.automate.templates import Cells, TemplateProblem, cell, check_template, compose, merge_fields, names_used, render, team_member
from crm_sheets.model import Effect
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import fold, normalize_email
from crm_sheets.model.values import fold_option, option_lookup

MEMBER_LINK = {"leads": "lead", "contacts": "contact"}
MARKETING_TABLES = {"leads", "contacts"}  # email to these people needs consent; deal email is one-to-one sales mail
_SET = re.compile(r"^\s*([^=]+?)\s*=\s*(.*)$", re.S)


@dataclass(frozen=True)
class EmailTemplate:
    key: str
    subject: str
    body: str


def email_template(run: Run, key: str, column: str = "template") -> EmailTemplate:
    """The Email Templates row named ``key``, checked to compile; BadRule when missing or broken."""
    t = run.tables.get("email_templates")
    if t is None or "key" not in t.df.columns:
        raise BadRule(column, key, "this workbook has no Email Templates sheet", "add one, or choose another action")
    for _, row in t.df.iterrows():
        if fold(text(row.get("key"))) == fold(key) and key:
            tpl = EmailTemplate(text(row.get("key")), text(row.get("subject")), text(row.get("body")))
            for part in (tpl.subject, tpl.body):
                try:
                    check_template(part)
                except TemplateProblem as exc:
                    raise BadRule(column, key, f'the email template "{key}" is broken: {exc}', f"fix it in {t.sheet or 'Email Templates'}") from None
            return tpl
    keys = ", ".join(text(k) for k in t.df["key"].dropna())
    what = f'"{key}" is not a template of {t.sheet or "Email Templates"}' if key else "the action needs an email template"
    raise BadRule(column, key or None, what, f"use one of {keys or 'the templates'}")


CHAT_WORDS = {"chat", "team chat", "slack", "teams", "messagerie"}


def digest_channels(run: Run, raw: str) -> tuple[EmailTemplate | None, bool]:
    """A digest's Template cell: its email template and/or "chat" ("digest, chat", "chat")."""
    words = set(CHAT_WORDS)
    if "channel" in run.tables.schema.lists:  # "Team chat", "Messagerie": the Channel list's chat option
        words |= {fold_option(label) for label, key in option_lookup(run.tables.list("channel")).items() if key == "chat"}
    email, chat = None, False
    for part in [p for p in re.split(r"\s*[,;+]\s*", raw or "") if p]:
        if fold_option(part) in {fold_option(w) for w in words}:
            chat = True
        elif email is None:
            email = email_template(run, part)
        else:
            raise BadRule("template", raw, "a digest names one email template", "write its key, and chat to post to the team chat too, e.g. digest, chat")
    if email is None and not chat:
        email_template(run, "")  # says which templates there are
    return email, chat


def sender(run: Run) -> str:
    return text(run.tables.setting("smtp_sender", "")) or "crm@localhost"


def recipient(run: Run, table: str, rid: str) -> tuple[dict[str, Any] | None, str]:
    """(the person an email about this record goes to, or None; why not). Deals write to their contact."""
    df = run.tables[table].df
    row = Cells(df, rid)
    person_table, person = table, row
    if table == "deals":
        cid = text(row.get("contact"))
        contacts = run.tables.get("contacts")
        if not cid or contacts is None or cid not in contacts.df.index:
            return None, "no contact"
        person_table, person = "contacts", Cells(contacts.df, cid)
    elif table == "tasks":
        member = team_member(run.tables, text(row.get("owner")))
        return (({"email": member.get("email"), "first_name": text(member.get("name")).split(" ")[0], "last_name": ""}, "") if member else (None, "no owner"))
    elif table not in MARKETING_TABLES:
        return None, "no email"
    typed = text(person.get("email"))
    email = normalize_email(typed) if typed else None
    if not email:
        return None, "no email"
    if ticked(person.get("opted_out")):
        return None, "opted out"
    if person_table in MARKETING_TABLES and table != "deals" and not ticked(person.get("consent")):
        return None, "no consent"
    return {"email": email, "first_name": text(person.get("first_name")), "last_name": text(person.get("last_name")), "table": person_table}, ""


def send_email(run: Run, tpl: EmailTemplate, table: str, rid: str, key: str, rule_name: str, *, marketing: bool = True,
               extra: dict[str, Any] | None = None) -> bool:
    """Queue one templated email about a record (and log it); False when the person must not get it."""
    to, why = recipient(run, table, rid)
    if to is None:
        run.count(f"emails_skipped_{why.replace(' ', '_')}")
        return False
    fields = merge_fields(run.tables, table, rid, {"recipient": to, **(extra or {})}, names=names_used(tpl.subject, tpl.body))
    sent_by = sender(run)
    mail = compose(tpl.subject, tpl.body, fields, sender=sent_by, lang=run.lang, unsubscribe=marketing)
    payload = {"to": to["email"], "from": sent_by, "subject": mail.subject, "text": mail.text, "html": mail.html,
               "unsubscribe": mail.unsubscribe}
    run.emit(Effect("email", key, payload, table, rid))
    run.log_activity(table, rid, "email", mail.subject, f"{rule_name} → {to['email']}\n\n{mail.text}", fields.get("owner") or None)
    return True


def notify_chat(run: Run, source: str, table: str, rid: str, key: str, rule_name: str) -> None:
    fields = merge_fields(run.tables, table, rid, names=names_used(source))
    message = render(source, fields) if source else f"{rule_name}: {rid}"
    run.emit(Effect("chat", key, {"text": message}, table, rid))
    run.log_activity(table, rid, "chat", rule_name, message, fields.get("owner") or None)


def post_webhook(run: Run, url: str, table: str, rid: str, key: str, rule_name: str, trigger: str, value: str) -> None:
    fields = merge_fields(run.tables, table, rid)
    body = {"rule": rule_name, "trigger": trigger, "trigger_value": value, "table": table, "id": rid,
            "at": pd.Timestamp(run.now).isoformat(), "record": {k: (v if isinstance(v, (str, int, float, bool)) else str(v)) for k, v in fields.items()}}
    run.emit(Effect("webhook", key, {"url": url, "body": body}, table, rid))


def check_url(url: str) -> str:
    if not re.match(r"^https?://[^\s/]+", url or ""):
        raise BadRule("template", url or None, f'"{url}" is not a web address' if url else "post webhook needs the URL to post to",
                      "write the URL (https://...) in Template or value")
    return url


def task_owner(run: Run, assign_to: str, table: str, rid: str) -> str | None:
    """'owner' (or any user column) takes the record's value; a Team name is used as is."""
    df = run.tables[table].df
    if not assign_to:
        return text(cell(df, rid, "owner")) or None if "owner" in df.columns else None
    f = find_field(run.tables[table].schema, assign_to)
    if f is not None and field_type(f.type).links_to == "member":
        return text(cell(df, rid, f.name)) or None if f.name in df.columns else None
    member = team_member(run.tables, assign_to)
    return text(member["name"]) if member else None


def check_task_owner(run: Run, assign_to: str, table: str) -> None:
    if not assign_to:
        return
    f = find_field(run.tables[table].schema, assign_to)
    if (f is not None and field_type(f.type).links_to == "member") or team_member(run.tables, assign_to):
        return
    raise BadRule("assign_to", assign_to, f'"{assign_to}" is neither a Team name nor a user column such as owner', "write owner or a name from the Team sheet")


def existing_task_keys(run: Run) -> set[str]:
    """Keys of tasks automate created before (in Created by): a task is never created twice, even after a crash."""
    t = run.tables.get("tasks")
    if t is None or "source" not in t.df.columns:
        return set()
    out = set()
    for v in t.df["source"].dropna():
        m = re.search(r"\[([^\[\]]+)\]\s*$", str(v))
        if m:
            out.add(m.group(1))
    return out


def create_task(run: Run, title_src: str, assign_to: str, due_in_days: int | None, table: str, rid: str, key: str, rule_name: str) -> None:
    fields = merge_fields(run.tables, table, rid, names=names_used(title_src))
    title = render(title_src, fields) if title_src else f"{rule_name}: {rid}"
    title = " ".join(title.split())  # an empty merge field leaves two spaces, which check would trim on the next run
    run.append("tasks", {
        "title": title[:250],
        "due": run.today + pd.Timedelta(days=due_in_days or 0),
        "owner": task_owner(run, assign_to, table, rid),
        "status": "open",
        "priority": "normal",
        "related": rid,
        "created": run.today,
        "source": f"{rule_name} [{key}]",
    })
    run.count("tasks_created")


def compile_set_field(run: Run, table: str, raw: str) -> tuple[str, Any]:
    """'status = Qualified' -> ('status', 'qualified'), read as the field's type."""
    m = _SET.match(raw or "")
    if not m:
        raise BadRule("template", raw or None, "set field needs what to set" if not raw else f'"{raw}" is not "column = value"',
                      "write it as column = value, e.g. status = Qualified")
    schema = run.tables[table].schema
    f = find_field(schema, m.group(1))
    if f is None or f.type == "id":
        raise BadRule("template", raw, f'"{m.group(1)}" is not a column of {schema.sheet_name(run.lang)}', "write column = value with one of its columns")
    if f.owned_by_job:
        raise BadRule("template", raw, f"{f.name} is written by the {f.owned_by_job} job", "set another column")
    value = m.group(2).strip()
    return f.name, (value_reader(run.tables, f, "template")(value) if value else None)


def set_field(run: Run, table: str, rid: str, field_name: str, value: Any, rule_name: str) -> bool:
    from crm_sheets.jobs.automate.snapshot import canonical

    current = run.tables[table].df.at[rid, field_name] if field_name in run.tables[table].df.columns else None
    if canonical(current) == canonical(value):
        return False
    run.set(table, rid, field_name, value, reason=f"automation {rule_name}")
    run.count("fields_set")
    return True


def find_campaign(run: Run, name: str) -> str | None:
    t = run.tables.get("campaigns")
    if t is None or not name:
        return None
    if name in t.df.index:
        return name
    return _campaign_names(run, t.df).get(fold(name))


def _campaign_names(run: Run, df: pd.DataFrame) -> dict[str, str]:
    """Folded campaign name -> the first campaign of that name, built again only when the Campaigns sheet's
    IDs or names differ (a campaign automate creates): thousands of leads added to a campaign looked up its
    name by folding every campaign's name for each of them."""
    names = df["name"] if "name" in df.columns else pd.Series(dtype=object)
    key = (tuple(names.index.tolist()), tuple(names.tolist()))
    hit = run.memo.get("campaign_names")
    if hit is None or hit[0] != key:
        index: dict[str, str] = {}
        for rid, v in zip(names.index, names.tolist()):
            if isinstance(v, str):
                index.setdefault(fold(v), str(rid))
        hit = run.memo["campaign_names"] = (key, index)
    return hit[1]


def sequence_campaigns(run: Run) -> set[str]:
    """Folded campaign names a Sequence Steps sheet defines (add to campaign may create those)."""
    t = run.tables.get("sequence_steps")
    if t is None or "campaign" not in t.df.columns:
        return set()
    return {fold(str(v)) for v in t.df["campaign"].dropna() if str(v).strip()}


def check_campaign(run: Run, name: str, table: str) -> None:
    if table not in MEMBER_LINK:
        raise BadRule("action", "add_to_campaign", "add to campaign works on Leads and Contacts", "choose the Leads or Contacts table")
    if "campaign_members" not in run.tables or "campaigns" not in run.tables:
        raise BadRule("action", "add_to_campaign", "this workbook has no Campaigns or Campaign Members sheet", "add them, or choose another action")
    if find_campaign(run, name) is None and fold(name) not in sequence_campaigns(run):
        raise BadRule("template", name or None, f'"{name}" is not a campaign' if name else "add to campaign needs the campaign",
                      "write a campaign's ID or name from the Campaigns sheet")


def _memberships(run: Run) -> set[tuple[str, str, str]]:
    """(campaign, lead/contact column, person) of every member, built once per run and kept up to date."""
    if "memberships" not in run.memo:
        df = run.tables["campaign_members"].df
        run.memo["memberships"] = {(str(c), link, str(p)) for link in MEMBER_LINK.values() if link in df.columns
                                   for c, p in zip(df["campaign"], df[link]) if isinstance(p, str) and p}
    return run.memo["memberships"]


def add_to_campaign(run: Run, name: str, table: str, rid: str) -> bool:
    cid = find_campaign(run, name)
    if cid is None:  # a campaign the Sequence Steps sheet defines: create it, active from today
        cid = run.append("campaigns", {"name": name, "channel": "email", "status": "active", "start": run.today,
                                       "description": "Drip sequence (created by automate)"})
        run.flush("campaigns")  # so the next record finds it
    link = MEMBER_LINK[table]
    if link not in run.tables["campaign_members"].df.columns:
        return False
    if (cid, link, rid) in _memberships(run):
        return False
    _memberships(run).add((cid, link, rid))
    run.append("campaign_members", {"campaign": cid, link: rid, "status": "added", "added": run.today})
    run.count("campaign_members_added")
    return True
