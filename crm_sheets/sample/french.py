"""Sample data in the workbook's language: French country names, deal stages and free text.

The generators write English; `localize()` rewrites, for a French workbook, the cells people would
type in French (countries, the Stages sheet's stage names, next steps, task titles, notes...). It draws
no random numbers, so the same seed plants the same records and errors in both languages.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import country_name
from crm_sheets.model.schema import Schema, localize as localize_text
from crm_sheets.sample import pools

# English phrase of the generators -> what a French team writes instead.
PHRASES = {
    # next steps and task titles
    "Send proposal": "Envoyer la proposition", "Book a demo": "Planifier une démo",
    "Call the decision maker": "Appeler le décideur", "Send the contract": "Envoyer le contrat",
    "Follow up on pricing": "Relancer sur les tarifs", "Meet the technical team": "Rencontrer l'équipe technique",
    "Call back": "Rappeler", "Qualify the lead": "Qualifier le prospect", "Send the brochure": "Envoyer la brochure",
    "Send the proposal": "Envoyer la proposition", "Prepare the contract": "Préparer le contrat", "Book the demo": "Planifier la démo",
    "Check in": "Prendre des nouvelles", "Send the case study": "Envoyer l'étude de cas",
    "Invite to the webinar": "Inviter au webinaire", "Quarterly review": "Revue trimestrielle",
    "Renewal check": "Point renouvellement", "Update the account plan": "Mettre à jour le plan de compte",
    "Book the discovery call": "Planifier l'appel découverte", "Agree the dates": "Fixer les dates",
    "Send the invoice": "Envoyer la facture", "Prepare the session": "Préparer la séance",
    "Ask for a testimonial": "Demander un témoignage",
    # lost reasons
    "Price": "Prix", "Chose a competitor": "A choisi un concurrent", "No budget": "Pas de budget",
    "No decision": "Pas de décision", "Timing": "Calendrier", "Missing feature": "Fonctionnalité manquante",
    "Went with someone else": "A choisi quelqu'un d'autre", "No reply": "Pas de réponse",
    # activity subjects
    "Follow-up": "Relance", "Proposal": "Proposition", "Pricing question": "Question sur les tarifs",
    "Meeting notes": "Compte rendu de réunion", "Introduction": "Présentation", "Discovery call": "Appel découverte",
    "Check-in call": "Appel de suivi", "Pricing call": "Appel tarifs", "Left a voicemail": "Message vocal laissé",
    "Demo": "Démo", "Kick-off meeting": "Réunion de lancement", "On-site visit": "Visite sur site",
    "Internal note": "Note interne", "Budget info": "Infos budget", "Org chart": "Organigramme",
    "Quick question": "Question rapide", "Chat follow-up": "Suivi par chat", "Scheduling": "Planification",
    "Feedback": "Retour",
    # notes
    "Met at the trade show.": "Rencontré au salon.", "Prefers email over calls.": "Préfère les e-mails aux appels.",
    "Budget review in Q1.": "Revue budgétaire au T1.", "Asked for a demo.": "A demandé une démo.",
    "Decision expected after the board meeting.": "Décision attendue après le conseil d'administration.",
    "Referred by an existing customer.": "Recommandé par un client.", "Call back after the holidays.": "Rappeler après les vacances.",
    "Interested in the annual plan.": "Intéressé par l'offre annuelle.", "Uses a competitor today.": "Utilise un concurrent aujourd'hui.",
    "Wants a quote in EUR.": "Veut un devis en EUR.",
    "Good progress": "Bons progrès", "Set goals for next time": "Objectifs fixés pour la prochaine fois",
    "Worked on feedback": "Travail sur les retours", "Paid by bank transfer": "Payé par virement",
    "PO number required": "Numéro de bon de commande requis", "Paid by card": "Payé par carte",
    # personal template
    "Send a birthday card": "Envoyer une carte d'anniversaire", "Call to catch up": "Appeler pour prendre des nouvelles",
    "Return the book": "Rendre le livre", "Invite for dinner": "Inviter à dîner", "Ask about the new job": "Demander des nouvelles du nouveau travail",
    "Congratulate on the baby": "Féliciter pour le bébé", "Send the photos": "Envoyer les photos",
    "Caught up over coffee": "Pris un café ensemble", "Birthday call": "Appel d'anniversaire",
    "Talked about the new job": "Parlé du nouveau travail", "Planned a trip": "Préparé un voyage", "Sent photos": "Envoyé des photos",
    "Dinner at their place": "Dîner chez eux", "Helped with the move": "Aidé au déménagement", "Quick chat": "Petite discussion",
    "Two kids": "Deux enfants", "Loves hiking": "Adore la randonnée", "Vegetarian": "Végétarien",
    "Moved abroad last year": "Parti à l'étranger l'an dernier", "Plays the cello": "Joue du violoncelle",
    "School": "École", "University": "Université", "Work": "Travail", "Through friends": "Par des amis", "Neighbours": "Voisins",
    "Tennis club": "Club de tennis", "A wedding": "Un mariage", "Travelling": "En voyage", "Our kids' school": "L'école des enfants",
    "A conference": "Une conférence", "Choir": "Chorale",
}
# Deal names are "<account> – <what>".
DEAL_KINDS = {"annual plan": "contrat annuel", "expansion": "extension", "renewal": "renouvellement", "pilot": "pilote",
              "new team": "nouvelle équipe", "platform": "plateforme"}
# Campaign names start with a theme, then the year and quarter.
CAMPAIGN_THEMES = {"Spring webinar": "Webinaire de printemps", "Trade show": "Salon professionnel", "Product launch": "Lancement produit",
                   "Newsletter": "Lettre d'information", "Customer stories": "Témoignages clients", "Partner day": "Journée partenaires",
                   "Year-end offer": "Offre de fin d'année", "LinkedIn ads": "Publicités LinkedIn", "Roadshow": "Tournée",
                   "Free trial push": "Relance essai gratuit", "Data summit": "Sommet data", "Onboarding series": "Série d'accueil"}
_FIELDS = {"next_step", "lost_reason", "title", "subject", "summary", "notes", "what", "how_we_met", "description"}
_COUNTRY_FIELDS = {"country", "nationality"}


def localize(schema: Schema, tables: dict[str, pd.DataFrame], lang: str) -> None:
    """Rewrite, in place, the text cells of ``tables`` that a ``lang`` workbook holds in its language."""
    if lang == "en":
        return
    countries = {country_name(code): country_name(code, lang) for code in pools.TLD}
    stages = _stage_names(schema, lang)
    for name, df in tables.items():
        ts = schema.tables[name]
        for f in ts.fields:
            if f.name not in df.columns or df[f.name].dtype != object:
                continue
            if field_type(f.type).place and f.name in _COUNTRY_FIELDS:
                df[f.name] = _mapped(df[f.name], countries)
            elif field_type(f.type).options and f.options_from and stages:
                df[f.name] = _mapped(df[f.name], stages)
            elif field_type(f.type).free_text and f.name in _FIELDS:
                df[f.name] = _mapped(df[f.name], PHRASES)
        if name == "deals" and "name" in df.columns:
            df["name"] = df["name"].map(lambda v: _deal_name(v) if isinstance(v, str) else v).astype(object)
        if name == "campaigns" and "name" in df.columns:
            df["name"] = df["name"].map(lambda v: _campaign_name(v) if isinstance(v, str) else v).astype(object)


def _stage_names(schema: Schema, lang: str) -> dict[str, str]:
    src = next((f.options_from for t in schema.tables.values() for f in t.fields if f.options_from), None)
    if not src:
        return {}
    table, _, field = src.partition(".")
    return {localize_text(r[field], "en"): localize_text(r[field], lang) for r in schema.tables[table].rows if field in r}


def _mapped(col: pd.Series, table: dict[str, str]) -> pd.Series:
    values = col.to_numpy(dtype=object, copy=True)
    for i, v in enumerate(values.tolist()):
        if isinstance(v, str) and v in table:
            values[i] = table[v]
    return pd.Series(values, index=col.index, dtype=object)


def _deal_name(name: str) -> str:
    account, sep, kind = name.rpartition(" – ")
    return f"{account}{sep}{DEAL_KINDS.get(kind, kind)}" if sep else name


def _campaign_name(name: str) -> str:
    for en, fr in CAMPAIGN_THEMES.items():
        if name.startswith(en + " "):
            return (fr + name[len(en):]).replace(" Q", " T", 1)
    return name
