"""The automate job on literal tables: scoring, assignment, automations, sequences, digests, bad rules.

Pure: no workbook, no clock, no network. A run's changes are applied to the tables and its state is
passed to the next run, as the runner does.
"""
from datetime import datetime, timedelta

import pandas as pd
import pytest
from _automate_helpers import NOW, apply, lead, make_tables

from crm_sheets.jobs.automate import automate


def score_rule(field, operator, value, points, rule=None):
    return {"rule": rule or f"{field} {operator}", "field": field, "operator": operator, "value": value, "points": points, "active": True}


# ---------------------------------------------------------------------------------------------
# Scoring


def test_scoring_adds_the_points_of_matching_rules_grades_and_explains():
    t = make_tables(
        leads=[lead(industry="software", company_size="51-200", source="referral", job_title="Head of Sales"),
               lead(industry="retail", email=None)],
        scoring_rules=[score_rule("industry", "in", "Software, Finance", 20, "Target industry"),
                       score_rule("company_size", "in", "51-200, 201-1000", 15, "Mid-size"),
                       score_rule("source", "equals", "Referral", 25, "Referral"),
                       score_rule("job_title", "contains", "CEO, Head", 15, "Decision maker"),
                       score_rule("email", "is_empty", None, -20, "No email")],
        settings={"grade_a": 70, "grade_b": 45, "grade_c": 20},
    )
    r = automate(t, now=NOW)
    apply(t, r)
    leads = t.df("leads")
    assert leads.loc["L-00001", ["score", "grade"]].tolist() == [75, "A"]
    assert leads.at["L-00001", "score_reason"] == "Target industry (+20); Mid-size (+15); Referral (+25); Decision maker (+15)"
    assert leads.loc["L-00002", ["score", "grade", "score_reason"]].tolist() == [-20, "D", "No email (-20)"]
    assert automate(t, now=NOW).changes.updates == [], "a second run changes nothing"


@pytest.mark.parametrize("field, operator, value, values, expected", [
    ("industry", "equals", "Software", ["software", "retail", None], [True, False, False]),
    ("industry", "not_equals", "Software", ["software", "retail", None], [False, True, True]),
    ("country", "in", "France, BE", ["France", "Belgium", "Germany"], [True, True, False]),
    ("job_title", "contains", "director", ["Sales Director", "CEO", None], [True, False, False]),
    ("engagement", "greater_than", "10", [11.0, 10.0, None], [True, False, False]),
    ("engagement", "less_than", "10", [9.0, 10.0, None], [True, False, False]),
    ("engagement", "between", "10 and 20", [10.0, 20.0, 21.0], [True, True, False]),
    ("engagement", "is_not_empty", None, [1.0, None, 0.0], [True, False, True]),
    ("last_contacted", "within_days", "30", [NOW - timedelta(days=29), NOW - timedelta(days=31), None], [True, False, False]),
    ("created", "greater_than", "2026-06-30", [datetime(2026, 7, 1), datetime(2026, 6, 1), None], [True, False, False]),
    ("consent", "equals", "TRUE", [True, False, None], [True, False, False]),
])
def test_each_operator_scores_the_leads_it_should(field, operator, value, values, expected):
    t = make_tables(leads=[lead(**{field: v}) for v in values], scoring_rules=[score_rule(field, operator, value, 10)])
    r = automate(t, now=NOW)
    apply(t, r)
    assert (t.df("leads")["score"] == 10).tolist() == expected


def test_rules_written_in_french_match_option_keys():
    t = make_tables(lang="fr", leads=[lead(status="contacted"), lead(status="new")],
                    scoring_rules=[score_rule("Statut", "égal à", "Contacté", 5)])
    apply(t, automate(t, now=NOW))
    assert t.df("leads")["score"].tolist() == [5, 0]


def test_a_bad_rule_is_reported_with_sheet_row_and_fix_and_skipped_while_the_others_run():
    t = make_tables(
        leads=[lead(industry="software", engagement=12.0)],
        scoring_rules=[score_rule("indutsry", "equals", "Software", 50),
                       score_rule("engagement", "greater_than", "ten", 50),
                       score_rule("created", "greater_than", "32/13/2026", 50),
                       score_rule("industry", "equals", "Software", 20, "Target industry")],
        automations=[{"name": "Welcome", "active": True, "table": "leads", "trigger": "record_created", "action": "send_email", "template": "welcom"}],
    )
    r = automate(t, now=NOW)
    bad = [f for f in r.findings if f.type == "bad-rule"]
    assert [(f.table, f.record_id, f.field, f.severity) for f in bad] == [
        ("scoring_rules", "row2", "field", "warning"), ("scoring_rules", "row3", "value", "warning"),
        ("scoring_rules", "row4", "value", "warning"), ("automations", "row2", "template", "warning")]
    assert bad[0].message.startswith("Scoring Rules row 2 (Field): \"indutsry\" is not a column of Leads")
    assert '"ten" is not a number' in bad[1].message and "is not a date" in bad[2].message
    assert '"welcom" is not a template of Email Templates; use one of welcome' in bad[3].message
    apply(t, r)
    assert t.df("leads").at["L-00001", "score"] == 20


# ---------------------------------------------------------------------------------------------
# Assignment


def assign_rule(order, assign_to, method="round_robin", field="", operator="", value="", table="leads"):
    return {"order": order, "table": table, "field": field, "operator": operator, "value": value,
            "assign_to": assign_to, "method": method, "active": True}


def test_round_robin_goes_in_rule_order_and_continues_across_runs():
    t = make_tables(leads=[lead(owner=None, country="France"), lead(owner=None, country="Germany"), lead(owner=None, country="France")],
                    assignment_rules=[assign_rule(2, "Noah Johnson", "fixed"),
                                      assign_rule(1, "Camille Martin, Hugo Bernard", field="country", operator="in", value="France, BE")])
    r = automate(t, now=NOW)
    apply(t, r)
    assert t.df("leads")["owner"].tolist() == ["Camille Martin", "Noah Johnson", "Hugo Bernard"]
    t2 = make_tables(leads=[lead(owner=None, country="FR")], assignment_rules=t.df("assignment_rules").to_dict("records"))
    apply(t2, automate(t2, now=NOW, state=r.state))
    assert t2.df("leads")["owner"].tolist() == ["Camille Martin"], "the round robin continues where it stopped"
    assert [a.reason for a in r.changes.audit][:1] == ["assignment rule 1: country in France, BE"]


def test_away_and_full_people_are_skipped_and_least_loaded_balances():
    team = [{"name": "Camille Martin", "email": "c@x.io", "capacity": 30, "away": True},
            {"name": "Hugo Bernard", "email": "h@x.io", "capacity": 1, "away": False},
            {"name": "Noah Johnson", "email": "n@x.io", "capacity": 30, "away": False}]
    t = make_tables(team=team, leads=[lead(owner="Noah Johnson")] + [lead(owner=None) for _ in range(3)],
                    assignment_rules=[assign_rule(1, "Camille Martin, Hugo Bernard, Noah Johnson", "least_loaded")])
    apply(t, automate(t, now=NOW))
    assert t.df("leads")["owner"].tolist() == ["Noah Johnson", "Hugo Bernard", "Noah Johnson", "Noah Johnson"]


# ---------------------------------------------------------------------------------------------
# Automations


PROPOSAL_RULES = [
    {"name": "Proposal follow-up", "active": True, "table": "deals", "trigger": "field_changed", "trigger_field": "stage",
     "trigger_value": "Proposal", "action": "create_task", "template": "Follow up on {{ name }}", "assign_to": "owner", "due_in_days": 3},
    {"name": "Proposal email", "active": True, "table": "deals", "trigger": "field_changed", "trigger_field": "stage",
     "trigger_value": "Proposal", "action": "send_email", "template": "proposal_sent"},
]


def test_first_run_records_the_baseline_then_a_stage_change_fires_once():
    t = make_tables(deals=[{"name": "Acme pilot", "stage": "Prospecting", "owner": "Hugo Bernard", "contact": "C-00001", "created": datetime(2026, 5, 1)},
                           {"name": "Old proposal", "stage": "Proposal", "owner": "Hugo Bernard", "created": datetime(2026, 5, 1)}],
                    contacts=[{"first_name": "Zoe", "last_name": "Ray", "email": "zoe@acme.com", "consent": False, "opted_out": False}],
                    automations=PROPOSAL_RULES)
    first = automate(t, now=NOW)
    assert first.effects == [] and first.changes.appends == [], "existing records are the baseline"
    t.df("deals").at["D-00001", "stage"] = "Proposal"
    second = automate(t, now=NOW + timedelta(days=1), state=first.state)
    tasks = [a for a in second.changes.appends if a.table == "tasks"]
    assert [(a.values["title"], a.values["owner"], a.values["due"], a.values["related"]) for a in tasks] == [
        ("Follow up on Acme pilot", "Hugo Bernard", pd.Timestamp("2026-11-06"), "D-00001")]
    [mail] = second.effects
    assert (mail.kind, mail.key, mail.payload["to"], mail.payload["subject"]) == ("email", "proposal-email:D-00001:proposal", "zoe@acme.com", "Your proposal: Acme pilot")
    assert "Hello Zoe" in mail.payload["text"] and "Hugo Bernard" in mail.payload["text"]
    [activity] = [a for a in second.changes.appends if a.table == "activities"]
    assert (activity.values["type"], activity.values["deal"], activity.values["contact"]) == ("email", "D-00001", "C-00001")
    apply(t, second)
    third = automate(t, now=NOW + timedelta(days=2), state=second.state)
    assert third.effects == [] and third.changes.appends == [], "never twice"


def test_automate_leaves_the_tables_it_was_given_as_they_were():
    # its working copy shares the caller's columns until it writes (copy-on-write): owners filled, a stage moved,
    # tasks and activities appended land in the result and its copy only
    t = make_tables(leads=[lead(owner=None, country="France"), lead(owner=None, country="Germany")],
                    assignment_rules=[assign_rule(1, "Camille Martin, Hugo Bernard")],
                    deals=[{"name": "Acme pilot", "stage": "Prospecting", "owner": "Hugo Bernard", "contact": "C-00001",
                            "created": datetime(2026, 5, 1)}],
                    contacts=[{"first_name": "Zoe", "last_name": "Ray", "email": "zoe@acme.com", "consent": True, "opted_out": False}],
                    automations=PROPOSAL_RULES)
    first = automate(t, now=NOW)
    t.df("deals").at["D-00001", "stage"] = "Proposal"
    before = {name: t.df(name).copy(deep=True) for name in t.tables}
    second = automate(t, now=NOW + timedelta(days=1), state=first.state)
    assert {a.table for a in second.changes.appends} >= {"tasks", "activities"} and second.changes.updates
    for name, df in before.items():
        pd.testing.assert_frame_equal(t.df(name), df)
    apply(t, second)
    assert t.df("leads")["owner"].notna().all() and len(t.df("tasks")) == 1


def test_welcome_goes_to_new_consenting_leads_only_and_never_to_opted_out():
    rule = {"name": "Welcome new leads", "active": True, "table": "leads", "trigger": "record_created",
            "condition": "consent = TRUE", "action": "send_email", "template": "welcome"}
    t = make_tables(leads=[lead(created=datetime(2026, 11, 2), first_name="Eva", email="eva@x.com"),
                           lead(created=datetime(2026, 11, 2), consent=False),
                           lead(created=datetime(2026, 11, 2), opted_out=True, email="out@x.com"),
                           lead(created=datetime(2026, 9, 1), email="old@x.com")],
                    automations=[rule])
    r = automate(t, now=NOW)
    assert [(e.payload["to"], e.payload["subject"]) for e in r.effects] == [("eva@x.com", "Welcome, Eva")]
    mail = r.effects[0].payload
    assert "Camille Martin will call you about Acme." in mail["text"] and "unsubscribe" in mail["text"]
    assert "<p>Hello Eva,</p>" in mail["html"] and mail["unsubscribe"].startswith("mailto:")
    apply(t, r)
    t.tables["leads"].df.loc["L-00005"] = t.df("leads").loc["L-00001"]  # a lead typed after the run
    t.df("leads").at["L-00005", "email"] = "new@x.com"
    again = automate(t, now=NOW + timedelta(days=30), state=r.state)
    assert [e.payload["to"] for e in again.effects] == ["new@x.com"], "later, new means not seen by the last run"


def test_no_activity_nudge_fires_once_per_quiet_spell_and_rules_in_french_match():
    rule = {"name": "Relancer", "active": True, "table": "leads", "trigger": "no_activity", "days": 14,
            "condition": "status = Contacté", "action": "create_task", "template": "Appeler {{ first_name }}", "assign_to": "owner", "due_in_days": 1}
    t = make_tables(lang="fr", leads=[lead(status="contacted"), lead(status="contacted"), lead(status="new")],
                    activities=[{"date": NOW - timedelta(days=3), "type": "call", "lead": "L-00002"},
                                {"date": NOW - timedelta(days=40), "type": "call", "lead": "L-00001"}],
                    automations=[rule])
    r = automate(t, now=NOW)
    assert [(a.values["title"], a.values["related"]) for a in r.changes.appends] == [("Appeler Ana", "L-00001")]
    apply(t, r)
    assert automate(t, now=NOW + timedelta(days=1), state=r.state).changes.appends == []
    assert automate(t, now=NOW + timedelta(days=1)).changes.appends == [], "even without the state, the task's key is in Created by"


def test_no_activity_nudge_reads_each_leads_latest_dated_activity_of_its_own():
    rule = {"name": "Nudge", "active": True, "table": "leads", "trigger": "no_activity", "days": 14,
            "action": "create_task", "template": "Call {{ first_name }}"}
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=3)
    t = make_tables(leads=[lead(first_name="Old then recent", last_contacted=old),
                           lead(first_name="Only old", last_contacted=old),
                           lead(first_name="Undated call", last_contacted=old),
                           lead(first_name="Recent contact", last_contacted=recent)],
                    activities=[{"date": old, "type": "call", "lead": "L-00001"},
                                {"date": recent, "type": "call", "lead": "L-00001"},
                                {"date": old, "type": "call", "lead": "L-00002"},
                                {"date": None, "type": "call", "lead": "L-00003"},
                                {"date": recent, "type": "call", "lead": "L-99999"},  # a lead nobody has
                                {"date": recent, "type": "call", "lead": None}],
                    automations=[rule])
    r = automate(t, now=NOW)
    assert sorted(a.values["related"] for a in r.changes.appends if a.table == "tasks") == ["L-00002", "L-00003"]


def test_date_reached_form_submitted_chat_webhook_set_field_and_campaign():
    rules = [
        {"name": "Close soon", "active": True, "table": "deals", "trigger": "date_reached", "trigger_field": "close_date", "days": 3,
         "trigger_value": "before", "action": "notify_chat", "template": "{{ name }} closes on {{ close_date }}"},
        {"name": "Form hook", "active": True, "table": "leads", "trigger": "form_submitted", "action": "post_webhook", "template": "https://hooks.example.com/in"},
        {"name": "Qualify web leads", "active": True, "table": "leads", "trigger": "form_submitted", "action": "set_field", "template": "status = Qualified"},
        {"name": "Nurture", "active": True, "table": "leads", "trigger": "form_submitted", "condition": "consent = TRUE", "action": "add_to_campaign", "template": "Spring news"},
    ]
    t = make_tables(deals=[{"name": "Acme", "stage": "Proposal", "close_date": datetime(2026, 11, 5), "owner": "Hugo Bernard"},
                           {"name": "Later", "stage": "Proposal", "close_date": datetime(2026, 11, 20)}],
                    leads=[lead(source="web_form", created=datetime(2026, 11, 2)), lead(source="event", created=datetime(2026, 11, 2))],
                    campaigns=[{"name": "Spring news", "status": "active"}], automations=rules)
    r = automate(t, now=NOW)
    by_kind = {e.kind: e for e in r.effects}
    assert by_kind["chat"].payload == {"text": "Acme closes on 2026-11-05"} and by_kind["chat"].key == "close-soon:D-00001:2026-11-05"
    assert by_kind["webhook"].payload["url"] == "https://hooks.example.com/in"
    assert by_kind["webhook"].payload["body"]["id"] == "L-00001" and by_kind["webhook"].payload["body"]["record"]["source"] == "Web form"
    apply(t, r)
    assert t.df("leads")["status"].tolist() == ["qualified", "new"]
    members = t.df("campaign_members")
    assert members[["campaign", "lead", "status"]].values.tolist() == [["CP-00001", "L-00001", "added"]]
    assert [a.values["type"] for a in r.changes.appends if a.table == "activities"] == ["chat"]


def test_weekly_digest_lists_each_owners_tasks_and_deals_once_a_week():
    rule = {"name": "Weekly digest", "active": True, "table": "tasks", "trigger": "schedule", "trigger_value": "Monday", "action": "send_digest", "template": "digest"}
    t = make_tables(tasks=[{"title": "Call Ana", "due": datetime(2026, 10, 30), "owner": "Hugo Bernard", "status": "open"},
                           {"title": "Send quote", "due": datetime(2026, 11, 4), "owner": "Hugo Bernard", "status": "open"},
                           {"title": "Done already", "due": datetime(2026, 11, 1), "owner": "Hugo Bernard", "status": "done"}],
                    deals=[{"name": "Acme", "stage": "Proposal", "owner": "Hugo Bernard", "close_date": datetime(2026, 11, 6), "amount": 12400.0}],
                    automations=[rule])
    r = automate(t, now=NOW)
    [mail] = r.effects
    assert (mail.payload["to"], mail.payload["subject"], mail.key) == ("hugo@brightlane.io", "Your week: 2 tasks", "weekly-digest:TM-00002:2026-W45")
    text = mail.payload["text"]
    assert "2026-10-30  Call Ana — overdue" in text and "2026-11-04  Send quote" in text and "Done already" not in text
    assert "Acme (D-00001) — Proposal, 12,400, 2026-11-06" in text
    assert automate(t, now=NOW + timedelta(days=2), state=r.state).effects == [], "once a week"
    assert len(automate(t, now=NOW + timedelta(days=7), state=r.state).effects) == 1


def test_sequence_members_advance_one_step_per_due_date_and_stop_on_reply():
    steps = [{"campaign": "Drip", "step": 1, "template": "step1", "delay_days": 0, "stop_on": "Replied", "active": True},
             {"campaign": "Drip", "step": 2, "template": "step2", "delay_days": 3, "stop_on": "Replied", "active": True}]
    t = make_tables(campaigns=[{"name": "Drip", "status": "active"}],
                    leads=[lead(first_name="Ana", email="ana@x.com"), lead(first_name="Bo", email="bo@x.com", opted_out=True),
                           lead(first_name="Cy", email="cy@x.com")],
                    campaign_members=[{"campaign": "CP-00001", "lead": "L-00001", "status": "added", "added": datetime(2026, 11, 2)},
                                      {"campaign": "CP-00001", "lead": "L-00002", "status": "added", "added": datetime(2026, 11, 2)},
                                      {"campaign": "CP-00001", "lead": "L-00003", "status": "added", "added": datetime(2026, 11, 2)}],
                    sequence_steps=steps)
    r1 = automate(t, now=NOW)
    assert [(e.payload["to"], e.payload["subject"]) for e in r1.effects] == [("ana@x.com", "Step one for Ana"), ("cy@x.com", "Step one for Cy")]
    apply(t, r1)
    m = t.df("campaign_members")
    assert m.loc["CM-00001", ["step", "next_due", "status"]].tolist() == [1, pd.Timestamp("2026-11-05"), "sent"]
    assert pd.isna(m.at["CM-00002", "step"]), "opted out: never sent, never advanced"
    assert automate(t, now=NOW + timedelta(days=1), state=r1.state).effects == [], "step 2 is not due yet"
    t.df("campaign_members").at["CM-00003", "status"] = "replied"
    r3 = automate(t, now=NOW + timedelta(days=3), state=r1.state)
    assert [(e.payload["to"], e.payload["subject"]) for e in r3.effects] == [("ana@x.com", "Step two for Ana")]


def test_dry_run_computes_the_same_but_keeps_the_state():
    t = make_tables(leads=[lead(created=datetime(2026, 11, 2))],
                    automations=[{"name": "Welcome", "active": True, "table": "leads", "trigger": "record_created", "action": "send_email", "template": "welcome"}])
    state = {"version": 1, "fired": {}}
    r = automate(t, now=NOW, state=state, dry_run=True)
    assert len(r.effects) == 1 and r.state == state and r.stats["dry_run"] is True


def test_digest_rule_naming_chat_posts_each_owners_digest_to_the_team_chat_once_a_week():
    rule = {"name": "Weekly digest", "active": True, "table": "tasks", "trigger": "schedule", "trigger_value": "Monday",
            "action": "send_digest", "template": "digest, Team chat"}
    tasks = [{"title": f"Call {n}", "due": datetime(2026, 11, 3), "owner": "Hugo Bernard", "status": "open"} for n in range(7)]
    t = make_tables(tasks=tasks, automations=[rule])
    r = automate(t, now=NOW)
    assert [(e.kind, e.key) for e in r.effects] == [("email", "weekly-digest:TM-00002:2026-W45"), ("chat", "weekly-digest:TM-00002:2026-W45:chat")]
    chat = r.effects[1].payload["text"]
    assert chat.startswith("Hugo Bernard — Your week: 7 tasks\nTasks due and overdue (7):\n- 2026-11-03  Call 0")
    assert chat.endswith("- … and 2 more") and "Call 5" not in chat, "a chat post lists the first five"
    assert automate(t, now=NOW + timedelta(days=1), state=r.state).effects == [], "once a week, on each channel"
    t.df("automations").at["row2", "template"] = "chat"
    [only_chat] = automate(t, now=NOW + timedelta(days=7), state=r.state).effects
    assert (only_chat.kind, only_chat.payload["text"].splitlines()[0]) == ("chat", "Hugo Bernard — weekly digest")
    t.df("automations").at["row2", "template"] = "digest, welcome"
    bad = automate(t, now=NOW, state=r.state)
    assert bad.effects == [] and "a digest names one email template" in bad.findings[0].message


def test_fired_keys_of_gone_records_and_past_periods_are_pruned_but_quiet_spells_are_kept():
    rules = [{"name": "Weekly digest", "active": True, "table": "tasks", "trigger": "schedule", "trigger_value": "Monday", "action": "send_digest", "template": "digest"},
             {"name": "Nudge", "active": True, "table": "leads", "trigger": "no_activity", "days": 14, "action": "create_task", "template": "Call {{ first_name }}"}]
    t = make_tables(leads=[lead(created=datetime(2026, 1, 5))], automations=rules)
    state = {"version": 1, "fired": {
        "nudge:L-00001:2026-01-05": "2026-01-20",  # the lead is still quiet since then: must not fire again
        "nudge:L-00777:2026-01-05": "2026-01-20",  # that lead was deleted (or merged away)
        "weekly-digest:TM-00002:2026-W40": "2026-09-28",  # five weeks ago
        "weekly-digest:TM-00002:2026-W43:chat": "2026-10-19",  # two weeks ago: kept a little longer
        "seq:CP-00009:CM-00042:1": "2026-10-01",  # a campaign member that no longer exists
    }}
    r = automate(t, now=NOW, state=state)
    assert r.effects == [] and r.changes.appends == []
    assert sorted(r.state["fired"]) == ["nudge:L-00001:2026-01-05", "weekly-digest:TM-00002:2026-W43:chat"]
    assert r.stats["fired_keys_pruned"] == 3
