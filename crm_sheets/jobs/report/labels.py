"""Every text the report sheets show, in English and French, and the small formatters cards need.

Keys are stable; `text(key, lang, **values)` (the order of builder/texts.py's text) falls back to English for a missing translation.
"""
from __future__ import annotations

from datetime import date

from crm_sheets.model import Tables

TEXT = {
    "en": {
        "subtitle": "{period} · currency {currency} · generated {now}",
        "subtitle_short": "Currency {currency} · generated {now}",
        "dash": "—",
        "total": "Total",
        "unassigned": "(unassigned)",
        "unknown": "(unknown)",
        "none": "(none)",
        "apart": "Not in the totals (no exchange rate in Settings): {amounts}. Add a rate to exchange_rates to include them.",
        "bad_rates": "Exchange rates that could not be read: {items}. Write them as EUR=1.08, GBP=1.27.",
        "vs": "previous {period}: {value}",
        "month": "month", "quarter": "quarter",
        # dashboard
        "won_revenue": "Won revenue", "open_value": "Open pipeline", "open_weighted": "Weighted pipeline",
        "win_rate": "Win rate", "avg_deal_size": "Average deal size", "sales_cycle": "Sales cycle (days)",
        "velocity": "Pipeline velocity / day", "new_leads": "New leads", "conversion": "Lead conversion",
        "tasks_overdue": "Tasks overdue", "won_period": "Won this {period}",
        "won_deals_n": "{n} won deals", "open_deals_n": "{n} open deals", "closed_n": "won ÷ (won + lost)",
        "cycle_note": "created → closed, won deals", "velocity_note": "open × win rate × size ÷ cycle",
        "weighted_note": "amount × probability",
        "by_month": "Won revenue by month", "pipeline_by_stage": "Open pipeline by stage",
        "leads_by_source": "Leads by source", "forecast_6": "Forecast, next 6 months",
        # pipeline
        "stage": "Stage", "owner": "Owner", "deals": "Deals", "value": "Value", "weighted": "Weighted value",
        "avg_age": "Average age (days)", "stalled": "Stalled", "by_stage": "By stage", "by_owner": "By owner",
        "stalled_deals": "Stalled deals (largest first)", "deal": "Deal", "account": "Account", "amount": "Amount",
        "currency": "Currency", "close_date": "Close date", "days": "Days",
        "stalled_note": "Stalled: an open deal whose close date passed more than {days} days ago (Settings stalled_deal_days), or with no activity for longer than its stage's 'Stalled after (days)'. Age counts from the Created date.",
        "more_rows": "… and {n} more",
        # forecast
        "month_col": "Month", "pipeline_value": "Pipeline value", "weighted_stage": "Weighted (stage probability)",
        "historical": "Historical win rate", "trend": "Trend (won revenue)", "overdue": "Close date passed",
        "later": "Later", "no_close_date": "No close date", "history": "Won revenue, last 12 full months",
        "won": "Won revenue", "method": "Method",
        "method_weighted": "Weighted: each open deal's amount × its own probability, or its stage's probability when the deal has none.",
        "method_historical": "Historical: each open deal's amount × its owner's win rate on closed deals (won ÷ won + lost; the team's rate, {team}, for owners with fewer than {n} closed deals).",
        "method_trend": "Trend: a straight line fitted (least squares) to won revenue per month over {first} – {last}, extended over the next 6 months ({slope} per month); never below zero.",
        "method_trend_none": "Trend: no won deal with a date yet, so no trend.",
        # leads
        "funnel": "Funnel by status", "status": "Status", "leads": "Leads", "share": "Share",
        "source": "Source", "converted": "Converted", "conversion_rate": "Conversion rate",
        "by_source": "Volume and conversion by source", "grade": "Grade", "grades": "Grade distribution",
        "score": "Score", "scores": "Score distribution", "no_score": "No score",
        "first_contact": "Time to first contact", "contacted": "Leads contacted", "not_contacted": "Never contacted",
        "avg_days": "Average (days)", "median_days": "Median (days)",
        "first_contact_note": "From the lead's Created date to its first activity (Activities with this lead).",
        # customers
        "customers": "Customers", "orders": "Orders", "revenue": "Revenue", "avg_ltv": "Average lifetime value",
        "aov": "Average order value", "orders_per_customer": "Orders per customer", "active": "Active",
        "at_risk": "At risk", "churned": "Churned", "top_customers": "Top customers by lifetime value",
        "watch": "At-risk and churned customers", "customer": "Customer", "ltv": "Lifetime value",
        "first_order": "First order", "last_order": "Last purchase", "between": "Days between orders",
        "customers_note": "From Orders (refunded and cancelled ones left out). Churned: no order in 12 months; at risk: none in 6 months.",
        "status_active": "Active", "status_at_risk": "At risk", "status_churned": "Churned",
        # campaigns
        "campaign": "Campaign", "members": "Members", "replies": "Replies", "won_deals": "Won deals", "cost": "Cost",
        "cost_per_lead": "Cost per lead", "acquisition_cost": "Acquisition cost", "roi": "ROI",
        "campaigns_note": "Replies: members who replied or converted. Acquisition cost: cost ÷ won deals. ROI: (revenue − cost) ÷ cost.",
        # activity
        "type": "Type", "last_7": "Last 7 days", "last_30": "Last 30 days", "by_type": "By type",
        "activity_by_owner": "By owner, last 30 days",
        # geography
        "country": "Country", "city": "City", "by_country": "By country", "by_city": "By city",
        "geo_note": "Customers: accounts of type Customer or with an order. Revenue from Orders.",
        # satisfaction
        "nps": "NPS", "responses": "Responses", "promoters": "Promoters (9–10)", "passives": "Passives (7–8)",
        "detractors": "Detractors (0–6)", "distribution": "Score distribution", "contacts": "Contacts",
        "nps_note": "NPS = % promoters − % detractors, from the contacts' NPS score.",
        "no_nps_field": "The Contacts table has no NPS score column.",
        # board & calendar
        "board_note": "Open deals by stage, soonest close date first. Edit deals in the Deals sheet.",
        "board_head": "{n} deals · {value}",
        "calendar_note": "Open tasks by due date and meetings (Activities of type Meeting).",
        "task": "Task", "meeting": "Meeting", "today": "today",
        "weekdays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        "months": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                   "October", "November", "December"],
        "no_data": "No data yet.",
    },
    "fr": {
        "subtitle": "{period} · devise {currency} · généré le {now}",
        "subtitle_short": "Devise {currency} · généré le {now}",
        "total": "Total",
        "unassigned": "(non attribué)",
        "unknown": "(inconnu)",
        "none": "(aucun)",
        "apart": "Hors totaux (pas de taux de change dans Paramètres) : {amounts}. Ajoutez un taux dans exchange_rates pour les inclure.",
        "bad_rates": "Taux de change illisibles : {items}. Écrivez-les ainsi : EUR=1.08, GBP=1.27.",
        "vs": "{period} précédent : {value}",
        "month": "mois", "quarter": "trimestre",
        "won_revenue": "Chiffre d'affaires gagné", "open_value": "Pipeline ouvert", "open_weighted": "Pipeline pondéré",
        "win_rate": "Taux de gain", "avg_deal_size": "Montant moyen", "sales_cycle": "Cycle de vente (jours)",
        "velocity": "Vélocité du pipeline / jour", "new_leads": "Nouveaux prospects", "conversion": "Conversion des prospects",
        "tasks_overdue": "Tâches en retard", "won_period": "Gagné ce {period}",
        "won_deals_n": "{n} affaires gagnées", "open_deals_n": "{n} affaires ouvertes", "closed_n": "gagnées ÷ (gagnées + perdues)",
        "cycle_note": "création → clôture, affaires gagnées", "velocity_note": "ouvertes × taux × montant ÷ cycle",
        "weighted_note": "montant × probabilité",
        "by_month": "Chiffre d'affaires gagné par mois", "pipeline_by_stage": "Pipeline ouvert par étape",
        "leads_by_source": "Prospects par source", "forecast_6": "Prévisions, 6 prochains mois",
        "stage": "Étape", "owner": "Propriétaire", "deals": "Affaires", "value": "Valeur", "weighted": "Valeur pondérée",
        "avg_age": "Âge moyen (jours)", "stalled": "Bloquées", "by_stage": "Par étape", "by_owner": "Par propriétaire",
        "stalled_deals": "Affaires bloquées (les plus grosses d'abord)", "deal": "Affaire", "account": "Compte",
        "amount": "Montant", "currency": "Devise", "close_date": "Date de clôture", "days": "Jours",
        "stalled_note": "Bloquée : affaire ouverte dont la date de clôture est dépassée de plus de {days} jours (Paramètres stalled_deal_days), ou sans activité depuis plus que le « Bloquée après (jours) » de son étape. L'âge compte depuis la date de création.",
        "more_rows": "… et {n} de plus",
        "month_col": "Mois", "pipeline_value": "Valeur du pipeline", "weighted_stage": "Pondéré (probabilité d'étape)",
        "historical": "Taux de gain historique", "trend": "Tendance (CA gagné)", "overdue": "Date de clôture dépassée",
        "later": "Plus tard", "no_close_date": "Sans date de clôture", "history": "CA gagné, 12 derniers mois complets",
        "won": "CA gagné", "method": "Méthode",
        "method_weighted": "Pondéré : montant de chaque affaire ouverte × sa probabilité, ou celle de son étape si elle n'en a pas.",
        "method_historical": "Historique : montant × taux de gain de son propriétaire sur les affaires closes (gagnées ÷ gagnées + perdues ; taux de l'équipe, {team}, pour moins de {n} affaires closes).",
        "method_trend": "Tendance : droite ajustée (moindres carrés) au CA gagné par mois de {first} à {last}, prolongée sur 6 mois ({slope} par mois) ; jamais en dessous de zéro.",
        "method_trend_none": "Tendance : aucune affaire gagnée datée, pas de tendance.",
        "funnel": "Entonnoir par statut", "status": "Statut", "leads": "Prospects", "share": "Part",
        "source": "Source", "converted": "Convertis", "conversion_rate": "Taux de conversion",
        "by_source": "Volume et conversion par source", "grade": "Note", "grades": "Répartition des notes",
        "score": "Score", "scores": "Répartition des scores", "no_score": "Sans score",
        "first_contact": "Délai de premier contact", "contacted": "Prospects contactés", "not_contacted": "Jamais contactés",
        "avg_days": "Moyenne (jours)", "median_days": "Médiane (jours)",
        "first_contact_note": "De la date de création du prospect à sa première activité (Activités liées).",
        "customers": "Clients", "orders": "Commandes", "revenue": "Chiffre d'affaires", "avg_ltv": "Valeur vie client moyenne",
        "aov": "Panier moyen", "orders_per_customer": "Commandes par client", "active": "Actifs",
        "at_risk": "À risque", "churned": "Perdus", "top_customers": "Meilleurs clients (valeur vie client)",
        "watch": "Clients à risque et perdus", "customer": "Client", "ltv": "Valeur vie client",
        "first_order": "Première commande", "last_order": "Dernier achat", "between": "Jours entre commandes",
        "customers_note": "Depuis Commandes (remboursées et annulées exclues). Perdu : aucune commande depuis 12 mois ; à risque : depuis 6 mois.",
        "status_active": "Actif", "status_at_risk": "À risque", "status_churned": "Perdu",
        "campaign": "Campagne", "members": "Membres", "replies": "Réponses", "won_deals": "Affaires gagnées", "cost": "Coût",
        "cost_per_lead": "Coût par prospect", "acquisition_cost": "Coût d'acquisition", "roi": "ROI",
        "campaigns_note": "Réponses : membres ayant répondu ou converti. Coût d'acquisition : coût ÷ affaires gagnées. ROI : (CA − coût) ÷ coût.",
        "type": "Type", "last_7": "7 derniers jours", "last_30": "30 derniers jours", "by_type": "Par type",
        "activity_by_owner": "Par propriétaire, 30 derniers jours",
        "country": "Pays", "city": "Ville", "by_country": "Par pays", "by_city": "Par ville",
        "geo_note": "Clients : comptes de type Client ou ayant commandé. Chiffre d'affaires issu des Commandes.",
        "nps": "NPS", "responses": "Réponses", "promoters": "Promoteurs (9–10)", "passives": "Passifs (7–8)",
        "detractors": "Détracteurs (0–6)", "distribution": "Répartition des scores", "contacts": "Contacts",
        "nps_note": "NPS = % promoteurs − % détracteurs, d'après le score NPS des contacts.",
        "no_nps_field": "La table Contacts n'a pas de colonne Score NPS.",
        "board_note": "Affaires ouvertes par étape, clôture la plus proche d'abord. Modifiez-les dans la feuille Affaires.",
        "board_head": "{n} affaires · {value}",
        "calendar_note": "Tâches ouvertes par échéance et réunions (Activités de type Réunion).",
        "task": "Tâche", "meeting": "Réunion", "today": "aujourd'hui",
        "weekdays": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
        "months": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
                   "octobre", "novembre", "décembre"],
        "no_data": "Pas encore de données.",
    },
}


def text(key: str, lang: str, **values) -> str:
    table = TEXT.get(lang, TEXT["en"])
    raw = table.get(key, TEXT["en"].get(key, key))
    return raw.format(**values) if values else raw


def month_name(lang: str, year: int, month: int) -> str:
    name = text("months", lang)[month - 1]
    return f"{name.capitalize() if lang == 'en' else name} {year}"


def month_key_label(lang: str, key: str) -> str:
    """'2026-03' -> 'March 2026' / 'mars 2026'."""
    year, month = key.split("-")
    return month_name(lang, int(year), int(month))


def period_label(lang: str, period: str, start: date) -> str:
    if period == "quarter":
        q = (start.month - 1) // 3 + 1
        return f"Q{q} {start.year}" if lang == "en" else f"T{q} {start.year}"
    return month_name(lang, start.year, start.month)


def number(lang: str, value: float, decimals: int = 0) -> str:
    """Thousands separators as people write them: 12,500 (en), 12 500 (fr)."""
    s = f"{value:,.{decimals}f}"
    if lang == "fr":
        s = s.replace(",", "\u202f").replace(".", ",")
    return s


def money(lang: str, value: float | None, currency: str) -> str:
    return "—" if value is None else f"{number(lang, value)} {currency}"


def option(tables: Tables, list_name: str, key: str, lang: str) -> str:
    """The label of a dropdown key in the workbook language (the key itself when unknown)."""
    if not key:
        return text("none", lang)
    try:
        for o in tables.list(list_name).options:
            if o.key == key:
                return o.label(lang)
    except KeyError:
        pass
    return key
