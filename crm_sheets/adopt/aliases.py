"""Words teams use for our tables and fields, in English, French, German and Spanish: what `adopt` matches
a workbook's sheet names and column headers against, besides the schema's own titles and aliases.
Keys are field names (any table that has the field) or table names; words are compared folded.
"""
from __future__ import annotations

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "given name", "prénom", "prenom", "vorname", "nombre"),
    "last_name": ("last name", "lastname", "surname", "family name", "nom", "nom de famille", "nachname", "apellido",
                  "apellidos"),
    "name": ("name", "full name", "contact name", "lead name", "deal name", "opportunity name", "account name",
             "company name", "nom complet", "vollständiger name", "nombre completo", "opportunity", "deal", "account",
             "oportunidad", "opportunité", "affaire", "verkaufschance", "nom de l'affaire", "nombre de la oportunidad"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "courriel", "adresse e-mail",
              "adresse email", "e-mail-adresse", "correo", "correo electrónico", "email 1"),
    "phone": ("phone", "phone number", "telephone", "tel", "tel.", "mobile", "cell", "work phone", "téléphone",
              "telefon", "telefonnummer", "teléfono", "movil", "móvil", "portable", "handy"),
    "company": ("company", "company name", "organisation", "organization", "account", "account name", "business",
                "entreprise", "société", "societe", "firma", "unternehmen", "empresa", "compañía", "compania"),
    "job_title": ("title", "job title", "position", "role", "poste", "fonction", "titre", "position", "berufsbezeichnung",
                  "cargo", "puesto"),
    "website": ("website", "web site", "website url", "url", "site", "site web", "webseite", "sitio web", "domain"),
    "country": ("country", "country/region", "pays", "land", "país", "pais", "nation"),
    "city": ("city", "town", "ville", "stadt", "ort", "ciudad", "localité"),
    "status": ("status", "lead status", "state", "statut", "état", "etat", "estado", "stato"),
    "stage": ("stage", "deal stage", "pipeline stage", "sales stage", "phase", "étape", "etape", "stufe", "etapa",
              "fase", "stagename", "status"),
    "amount": ("amount", "value", "deal value", "deal size", "revenue", "price", "montant", "valeur", "betrag",
               "wert", "importe", "valor", "monto", "sales", "total"),
    "close_date": ("close date", "closing date", "expected close", "expected close date", "closedate",
                   "date de clôture", "date de cloture", "abschlussdatum", "fecha de cierre", "cierre", "cierre previsto"),
    "owner": ("owner", "assigned to", "sales rep", "salesperson", "account owner", "lead owner", "contact owner",
              "deal owner", "rep", "responsable", "commercial", "verantwortlich", "inhaber", "propietario",
              "vendedor", "ownerid"),
    "source": ("source", "lead source", "origin", "channel", "origine", "quelle", "herkunft", "fuente", "origen",
               "leadsource"),
    "created": ("created", "created on", "created date", "create date", "date created", "date added", "added",
                "createddate", "date de création", "erstellt", "erstellt am", "fecha de creación", "date"),
    "last_contacted": ("last contacted", "last contact", "last contact date", "dernier contact", "letzter kontakt",
                       "último contacto"),
    "notes": ("notes", "note", "comments", "comment", "remarks", "description", "details", "remarques",
              "commentaires", "notizen", "bemerkungen", "notas", "comentarios"),
    "industry": ("industry", "sector", "secteur", "branche", "industrie", "sector", "industria"),
    "probability": ("probability", "probability (%)", "chance", "win probability", "probabilité", "wahrscheinlichkeit",
                    "probabilidad"),
    "next_step": ("next step", "next action", "prochaine étape", "nächster schritt", "siguiente paso"),
    "tags": ("tags", "labels", "étiquettes", "schlagworte", "etiquetas"),
    "address": ("address", "street", "adresse", "anschrift", "dirección", "direccion"),
    "employees": ("employees", "number of employees", "headcount", "employés", "mitarbeiter", "empleados"),
    "annual_revenue": ("annual revenue", "revenue", "chiffre d'affaires", "umsatz", "ingresos"),
    "account": ("account", "company", "account name", "associated company", "client", "customer", "compte", "kunde",
                "cliente"),
    "contact": ("contact", "contact name", "primary contact", "associated contact", "kontakt"),
    "role": ("role", "rôle", "rolle", "rol"),
    "territory": ("territory", "region", "territoire", "région", "gebiet", "territorio"),
}

TABLE_ALIASES: dict[str, tuple[str, ...]] = {
    "leads": ("leads", "lead", "prospects", "prospect", "pipeline", "crm", "sheet1", "feuil1", "tabelle1", "hoja1",
              "contacts list", "prospects list", "interessenten", "prospectos", "pistes"),
    "contacts": ("contacts", "contact", "people", "persons", "kontakte", "contactos", "personnes"),
    "accounts": ("accounts", "account", "companies", "company", "organisations", "organizations", "customers",
                 "clients", "kunden", "firmen", "entreprises", "sociétés", "empresas", "cuentas"),
    "deals": ("deals", "deal", "opportunities", "opportunity", "sales", "pipeline", "affaires", "opportunités",
              "verkaufschancen", "oportunidades", "ventas"),
    "team": ("team", "users", "sales team", "reps", "équipe", "equipe", "vertrieb", "mitarbeiter", "equipo"),
    "activities": ("activities", "activity", "calls", "meetings", "log", "activités", "aktivitäten", "actividades"),
    "tasks": ("tasks", "task", "to do", "todo", "to-do", "tâches", "aufgaben", "tareas"),
}

# A person's whole name in one column, for tables that split names (leads, contacts): read as the last name,
# the field every row needs, so no row is lost; the person splits it if they want to.
WHOLE_NAME = ("name", "full name", "contact name", "lead name", "person", "contact person", "nom complet",
              "nom et prénom", "nom prénom", "vollständiger name", "name, vorname", "ansprechpartner", "nombre completo")
