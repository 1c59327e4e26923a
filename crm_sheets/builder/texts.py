"""The words the builder writes itself (Start sheet, input and error messages), in English and French.

Everything else a person reads in a new workbook (sheet names, headers, list labels, help texts) comes
from the template. Keep the two languages side by side so a missing translation is easy to spot.
"""
from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # ---- Start sheet
    "subtitle": {
        "en": "A crm-sheets workbook · template {template} v{version} · created {created}",
        "fr": "Classeur crm-sheets · modèle {template} v{version} · créé le {created}",
    },
    "about": {"en": "About", "fr": "À propos"},
    "sheets": {"en": "Sheets", "fr": "Feuilles"},
    "sheet_col": {"en": "Sheet", "fr": "Feuille"},
    "what_col": {"en": "What it holds", "fr": "Contenu"},
    "records": {"en": "{n} records", "fr": "{n} fiches"},
    "lists_help": {
        "en": "The choices of every dropdown, one column per list. Add an option at the bottom of its column.",
        "fr": "Les choix de chaque liste déroulante, une colonne par liste. Ajoutez une option en bas de sa colonne.",
    },
    "reports": {"en": "Reports", "fr": "Rapports"},
    "reports_help": {
        "en": "{names}: created and refreshed by the jobs (crm-sheets run). Do not type in them: they are replaced on every run.",
        "fr": "{names} : créées et mises à jour par les jobs (crm-sheets run). N'y saisissez rien : elles sont remplacées à chaque passage.",
    },
    "how": {"en": "How to use it", "fr": "Mode d'emploi"},
    "step_team": {"en": "1. Your team", "fr": "1. Votre équipe"},
    "step_team_text": {
        "en": "List the people who own records in {team}. Owner columns offer these names.",
        "fr": "Indiquez dans {team} les personnes qui suivent les fiches. Les colonnes Propriétaire proposent ces noms.",
    },
    "step_data": {"en": "2. Your data", "fr": "2. Vos données"},
    "step_data_text": {
        "en": "Type or paste one record per row, below the headers. Leave the ID empty on new rows: crm-sheets gives one. Click a header to read what the column expects.",
        "fr": "Saisissez ou collez une fiche par ligne, sous les en-têtes. Laissez l'ID vide sur les nouvelles lignes : crm-sheets en attribue un. Cliquez sur un en-tête pour lire ce que la colonne attend.",
    },
    "step_rules": {"en": "3. Your rules", "fr": "3. Vos règles"},
    "step_rules_text": {
        "en": "{rules} are ordinary sheets: edit them to change how leads are scored, routed and followed up. Settings holds thresholds and preferences.",
        "fr": "{rules} sont des feuilles ordinaires : modifiez-les pour changer le score, l'attribution et le suivi des prospects. Paramètres contient les seuils et préférences.",
    },
    "step_run": {"en": "4. Run the jobs", "fr": "4. Lancer les jobs"},
    "step_run_text": {
        "en": "Close the workbook, then run: crm-sheets run {file}  — it checks the data, merges duplicates, runs the automations and refreshes the reports. One job alone: crm-sheets run {file} --job check (or dedupe, automate, report). In LibreOffice Calc, without closing it: Tools > Macros > Run Macro > My Macros > crm_sheets > refresh (installed once by crm-sheets add-buttons --libreoffice).",
        "fr": "Fermez le classeur, puis lancez : crm-sheets run {file}  — les données sont vérifiées, les doublons fusionnés, les automatisations exécutées et les rapports mis à jour. Un seul job : crm-sheets run {file} --job check (ou dedupe, automate, report). Dans LibreOffice Calc, sans le fermer : Outils > Macros > Exécuter la macro > Mes macros > crm_sheets > refresh (installée une fois par crm-sheets add-buttons --libreoffice).",
    },
    "step_button": {"en": "5. On a schedule", "fr": "5. Planification"},
    "step_button_text": {
        "en": "To keep the workbook fresh without thinking about it, say when each job runs in the Schedule sheet, then start: crm-sheets schedule {file}. Every run is listed in the Runs sheet. If the workbook is open at that time, the changes wait and land on the next run. Every change a job makes is listed in {audit}.",
        "fr": "Pour garder le classeur à jour sans y penser, indiquez quand chaque job tourne dans la feuille Planification, puis lancez : crm-sheets schedule {file}. Chaque exécution figure dans la feuille Exécutions. Si le classeur est ouvert à ce moment, les modifications attendent et sont appliquées au passage suivant. Chaque modification faite par un job est listée dans {audit}.",
    },
    "colours": {"en": "Colours", "fr": "Couleurs"},
    "legend_header": {"en": "Column header", "fr": "En-tête de colonne"},
    "legend_header_text": {
        "en": "Click it to read what the column expects. Headers must keep their text: crm-sheets finds columns by it.",
        "fr": "Cliquez dessus pour lire ce que la colonne attend. Gardez le texte des en-têtes : crm-sheets s'en sert pour trouver les colonnes.",
    },
    "legend_required": {"en": "Required column", "fr": "Colonne obligatoire"},
    "legend_required_text": {
        "en": "An orange line under the header: every row needs a value.",
        "fr": "Un trait orange sous l'en-tête : chaque ligne doit avoir une valeur.",
    },
    "legend_owned": {"en": "Computed column", "fr": "Colonne calculée"},
    "legend_owned_text": {
        "en": "Grey header: a job fills this column; what you type there is replaced.",
        "fr": "En-tête gris : un job remplit cette colonne ; ce que vous y tapez est remplacé.",
    },
    "legend_overdue": {"en": "Overdue", "fr": "En retard"},
    "legend_overdue_text": {
        "en": "A task past its due date that is not done or cancelled.",
        "fr": "Une tâche dont l'échéance est passée, ni terminée ni annulée.",
    },
    "legend_hot": {"en": "Hot lead", "fr": "Prospect chaud"},
    "legend_hot_text": {
        "en": "A score at or above hot_lead_score in Settings.",
        "fr": "Un score égal ou supérieur à hot_lead_score dans Paramètres.",
    },
    "legend_stalled": {"en": "Stalled deal", "fr": "Affaire bloquée"},
    "legend_stalled_text": {
        "en": "An open deal whose close date passed more than stalled_deal_days ago (Settings).",
        "fr": "Une affaire ouverte dont la date de clôture est dépassée depuis plus de stalled_deal_days (Paramètres).",
    },
    "legend_opted_out": {"en": "Opted out", "fr": "Désinscrit"},
    "legend_opted_out_text": {
        "en": "This person asked not to be emailed; campaigns and automations skip them.",
        "fr": "Cette personne ne veut plus d'e-mails ; campagnes et automatisations l'ignorent.",
    },
    "language": {"en": "Language", "fr": "Langue"},
    "language_text": {
        "en": "English. crm-sheets reads English and French headers and dropdown values alike; for a French workbook: crm-sheets new FILE --lang fr.",
        "fr": "Français. crm-sheets lit les en-têtes et valeurs de listes en français comme en anglais ; pour un classeur en anglais : crm-sheets new FICHIER --lang en.",
    },
    "privacy": {"en": "Passwords", "fr": "Mots de passe"},
    "privacy_text": {
        "en": "Never type passwords or webhook addresses in this workbook: crm-sheets reads them from environment variables.",
        "fr": "Ne saisissez jamais de mot de passe ni d'adresse de webhook dans ce classeur : crm-sheets les lit dans des variables d'environnement.",
    },
    # ---- Settings sheet
    "setting_value": {"en": "Value", "fr": "Valeur"},
    # ---- input and error messages
    "required": {"en": "Required: every row needs a value.", "fr": "Obligatoire : chaque ligne doit avoir une valeur."},
    "owned": {"en": "Computed by {job}, do not edit.", "fr": "Calculé par {job}, ne pas modifier."},
    "unique": {"en": "Each value appears once.", "fr": "Chaque valeur n'apparaît qu'une fois."},
    # the help of each field type ("A date, e.g. 2025-03-31.") is the registry's: crm_sheets.model.fieldtypes
    "err.list": {
        "en": "This value is not in the list. Pick one, or add it to the {lists} sheet first.",
        "fr": "Cette valeur n'est pas dans la liste. Choisissez-en une, ou ajoutez-la d'abord dans la feuille {lists}.",
    },
    "err.reference": {
        "en": "No record of {table} has this ID. Continue only if you are about to add it.",
        "fr": "Aucune fiche de {table} n'a cet ID. Continuez seulement si vous allez l'ajouter.",
    },
    "err.user": {
        "en": "This name is not in {team}. Continue only if you are about to add this person.",
        "fr": "Ce nom n'est pas dans {team}. Continuez seulement si vous allez ajouter cette personne.",
    },
    "err.checkbox": {"en": "Type TRUE or FALSE.", "fr": "Saisissez VRAI ou FAUX."},
    "err.date": {"en": "Type a date, e.g. 2025-03-31.", "fr": "Saisissez une date, par ex. 31/03/2025."},
    "err.number": {"en": "Type a number{bounds}.", "fr": "Saisissez un nombre{bounds}."},
    "err.integer": {"en": "Type a whole number{bounds}.", "fr": "Saisissez un nombre entier{bounds}."},
    "bounds.between": {"en": " from {lo} to {hi}", "fr": " de {lo} à {hi}"},
    "bounds.min": {"en": " of at least {lo}", "fr": " d'au moins {lo}"},
    "bounds.max": {"en": " of at most {hi}", "fr": " d'au plus {hi}"},
    "err.email": {
        "en": "This does not look like an email address (name@example.com).",
        "fr": "Ceci ne ressemble pas à une adresse e-mail (nom@exemple.fr).",
    },
    "err.unique": {
        "en": "This value is already used in this column.",
        "fr": "Cette valeur est déjà utilisée dans cette colonne.",
    },
    "err.title": {"en": "Check this value", "fr": "Vérifiez cette valeur"},
    # ---- _crm_meta
    "meta_key": {"en": "Key", "fr": "Key"},
    "meta_value": {"en": "Value", "fr": "Value"},
}

# Names of the sheets the builder adds beside the template's tables, when the template has no title for them.
SHEET_TITLES = {
    "start": {"en": "Start", "fr": "Accueil"},
    "lists": {"en": "Lists", "fr": "Listes"},
}


def text(key: str, lang: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English when missing), with ``{placeholders}`` filled in."""
    entry = TEXTS[key]
    s = entry.get(lang) or entry["en"]
    return s.format(**values) if values else s
