"""A lead list the dedupe rules were not tuned on: its own name pools, 4 countries, known duplicates.

Independent of crm_sheets.sample (other names, companies, cities, mailbox patterns and variations), so that
bench_dedupe.py can tell rules that fit the sample from rules that hold on lists not seen before. Hard
cases, as people type them: colleagues answering one switchboard, namesakes in one city (at another
company, or even the same one), family members at one firm; and duplicates with a truncated or initial
first name, a typo or transposition in the mailbox at the company domain, a doubled or swapped letter in
the last name, a private mailbox beside the work one, the phone in national or international format.
Returns (leads frame indexed by ID, true duplicate pairs, hard negative pairs).
"""
from __future__ import annotations

import random
import unicodedata

import pandas as pd

COUNTRIES = {  # name as written in the Country column, calling code, trunk prefix, share of leads
    "United States": ("1", "", 0.35),
    "United Kingdom": ("44", "0", 0.25),
    "Germany": ("49", "0", 0.2),
    "Australia": ("61", "0", 0.2),
    # other countries' numbers and names (--unseen-countries other): no trunk prefix in Spain
    "France": ("33", "0", 0.35), "Netherlands": ("31", "0", 0.3), "Spain": ("34", "", 0.35),
}
OTHER_COUNTRIES = ("France", "Netherlands", "Spain", "United Kingdom")
CITIES = {  # city -> landline area digits (national significant number starts with them), total length
    "United States": {"Portland": ("503", 10), "Phoenix": ("602", 10), "Nashville": ("615", 10),
                      "Minneapolis": ("612", 10), "Raleigh": ("919", 10), "Columbus": ("614", 10)},
    "United Kingdom": {"Glasgow": ("141", 10), "Liverpool": ("151", 10), "Cardiff": ("29", 10),
                       "Sheffield": ("114", 10), "Nottingham": ("115", 10)},
    "Germany": {"Stuttgart": ("711", 10), "Dresden": ("351", 10), "Leipzig": ("341", 10),
                "Düsseldorf": ("211", 10), "Hannover": ("511", 10)},
    "Australia": {"Sydney": ("2", 9), "Melbourne": ("3", 9), "Brisbane": ("7", 9), "Perth": ("8", 9),
                  "Adelaide": ("8", 9)},
    "France": {"Lyon": ("4", 9), "Lille": ("3", 9), "Nantes": ("2", 9), "Bordeaux": ("5", 9), "Saint-Étienne": ("4", 9)},
    "Netherlands": {"Rotterdam": ("10", 9), "Utrecht": ("30", 9), "Eindhoven": ("40", 9), "Den Haag": ("70", 9)},
    "Spain": {"Madrid": ("91", 9), "Barcelona": ("93", 9), "Valencia": ("96", 9), "Sevilla": ("95", 9)},
}
MOBILE = {"United States": None, "United Kingdom": ("7", 10), "Germany": ("15", 11), "Australia": ("4", 9),
          "France": ("6", 9), "Netherlands": ("6", 9), "Spain": ("6", 9)}
FIRST = {
    "United States": "Brooke Stephen Lindsey Tyler Courtney Dustin Heather Travis Kayla Derek Whitney Brandon Amber "
                     "Cody Brittany Shane Kelsey Troy Megan Corey Chelsea Garrett Alyssa Wesley Jenna Colby Paige "
                     "Nicholas Bethany Dominic Savannah Marcus Leah Trevor Hailey Gavin Morgan Jared",
    "United Kingdom": "Alistair Fiona Callum Imogen Declan Harriet Rhys Niamh Angus Eilidh Ewan Bethan Gareth "
                      "Siobhan Hamish Catriona Owain Lowri Fraser Isla Dougal Morag Craig Gemma Struan Ailsa",
    "Germany": "Jürgen Ursula Dieter Gisela Torsten Heike Matthias Anja Uwe Karin Holger Silke Ralf Birgit Jörg "
               "Sabine Volker Dörte Henning Frauke Malte Wiebke Kai Imke Sönke Gesa Lutz Britta",
    "Australia": "Lachlan Matilda Angus Tahlia Hamish Jessika Riley Ebony Darcy Shannon Bailey Kirra Brodie Jaxon "
                 "Indi Kobe Skye Ashton Tegan Flynn Mackenzie Beau Jarrah Kaitlyn Cooper Brianna",
    "France": "Amélie Baptiste Clémence Damien Estelle Florian Gaëlle Hervé Isabelle Jérôme Laetitia Mathieu "
              "Nathalie Olivier Pascale Quentin Rémi Sandrine Thibault Valérie Yannick Cécile Benoît Solène",
    "Netherlands": "Bram Daan Femke Gijs Joost Lieke Maarten Niels Roos Sanne Thijs Wouter Ilse Jeroen Marieke "
                   "Pieter Sjoerd Anouk Floor Geert Hanneke Joris",
    "Spain": "Alejandro Begoña Carmen Diego Esperanza Fernando Guadalupe Ignacio Jimena Lorenzo Macarena "
             "Nuria Óscar Pilar Rocío Santiago Teresa Vicente Ainhoa Borja Inmaculada Jaume",
}
LAST = {
    "United States": "Kelley Maillard Wong Prescott Holloway Gutierrez Whitfield Caldwell Fitzgerald Nakamura "
                     "Delacroix Abernathy Sorensen Pemberton Castellano Hargrove Okafor Lindqvist Vasquez Thornton "
                     "Brennan Mcallister Dunbar Ridley Stroud Kowalczyk Ashby Bellamy Cartagena Drummond Ellington Fairchild "
                     "Gallardo Huxley Ingram Jessup Kincaid Langford Merriweather Norwood Oyelaran Pruitt Quintero "
                     "Rutledge Stanhope Truong Underwood Villarreal Winslow Yancey",
    "United Kingdom": "Macleod Pritchard Featherstone Ashworth Blackwood Llewellyn Fairbairn Cartwright Rowntree "
                      "Ogilvie Braithwaite Heathcote Lockhart Mcintyre Sutcliffe Whitworth Kerrigan Dalgleish Abercrombie "
                      "Bainbridge Crowther Dunwoody Entwistle Farquhar Gilchrist Haworth Illingworth Jardine Kilbride "
                      "Lumsden Moffat Nuttall Oldroyd Pennington Quayle Ramsbottom Shuttleworth Tennant Urquhart",
    "Germany": "Schwarzkopf Lindemann Brückner Henkel Vogelsang Kästner Obermaier Rosenthal Eichhorn Steinbach "
               "Haberland Kühn Pfeiffer Ziegler Brandt Sauer Lorenz Engel Winkler Voigt Achenbach Bäumer Dreher "
               "Ebersbach Falkenberg Gröning Hollmann Isenberg Jablonski Kleinschmidt Lüdtke Mertens Nagelschmidt "
               "Osterkamp Prüfer Quandt Rehbein Schöller Tiedemann Uhlig Wendland",
    "Australia": "Fitzpatrick Hennessy Mcgregor Donnelly Whitlam Carmody Pearce Gallagher Kilpatrick Hawke "
                 "Brereton Treloar Mccallum Dwyer Loughnan Moloney Tregear Keating Ablett Buckley Costigan Dunstan "
                 "Ellery Flanagan Gilmour Hickey Isherwood Jovanovic Kirkwood Lambrou Mcinerney Nankervis O'Loughlin "
                 "Papadopoulos Quinlan Rafferty Sheahan Tuckwell Vukovic",
    "France": "Bérenger Chauvin Delaunay Étienne Fauconnier Garnier Hébert Joubert Lacroix Marchand Nicolas "
              "Olivier Perrin Quéré Rivière Sauvage Tessier Vasseur Lemaire Boucher Charpentier Dufour Guérin",
    "Netherlands": "de Vries van den Berg Bakker Visser Smit Meijer de Boer Mulder de Groot Bos Vos Peters "
                   "Hendriks van Leeuwen Dekker Brouwer de Wit Dijkstra Smits de Graaf van der Meer",
    "Spain": "García López Martínez Sánchez Romero Navarro Domínguez Gil Vázquez Serrano Blanco Molina "
             "Morales Ortega Delgado Castro Ortiz Rubio Marín Iglesias Nuñez Medina",
}
# Dutch last names with their particle ('van den Berg') are one name; Spanish ones are often two
LAST["Netherlands"] = ("de_Vries van_den_Berg Bakker Visser Smit Meijer de_Boer Mulder de_Groot Bos Vos Peters "
                       "Hendriks van_Leeuwen Dekker Brouwer de_Wit Dijkstra Smits de_Graaf van_der_Meer")
LAST["Spain"] = LAST["Spain"] + " García_López Martínez_Ortega Sánchez_Gil Romero_Navarro"
NICKS = {"Stephen": "Steve", "Nicholas": "Nick", "Brandon": "Brad", "Matthias": "Matze", "Alistair": "Ali",
         "Catriona": "Cat", "Lachlan": "Lachie", "Bethany": "Beth", "Jürgen": "Jürgen", "Dominic": "Dom",
         "Wesley": "Wes", "Garrett": "Gary", "Trevor": "Trev", "Morgan": "Mo"}
CO_WORDS = ("Harbour Granite Juniper Kestrel Lantern Meadow Northgate Oakridge Pinnacle Quarry Redfern Saltmarsh "
            "Thistle Upland Vantage Willow Yarrow Zephyr Bramble Copperleaf Driftwood Emberline Foxglove Glenmore "
            "Hollybrook Ironbark Kingfisher Larkspur Moorland Netherby Orchard Petrel Rosewood Silverline "
            "Tidewater Wattle Brightwater Clearwater Eastfield").split()
CO_KIND = ("Logistics Analytics Dental Partners Engineering Foods Surveying Media Robotics Legal Brewing Pharma "
           "Consulting Joinery Printing Studios Capital Systems Outfitters Labs").split()
CO_FORM = {"United States": ("Inc", "LLC", "Corp", ""), "United Kingdom": ("Ltd", "PLC", "LLP", ""),
           "Germany": ("GmbH", "AG", "KG", ""), "Australia": ("Pty Ltd", "Pty", "Ltd", ""),
           "France": ("SAS", "SARL", "SA", ""), "Netherlands": ("B.V.", "BV", "N.V.", ""), "Spain": ("S.L.", "SL", "S.A.", "")}
TLD = {"United States": ".com", "United Kingdom": ".co.uk", "Germany": ".de", "Australia": ".com.au", "France": ".fr",
       "Netherlands": ".nl", "Spain": ".es"}
FREE = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "gmx.de", "bigpond.com", "btinternet.com")
FREE_OTHER = ("gmail.com", "outlook.com", "orange.fr", "free.fr", "ziggo.nl", "telefonica.net", "hotmail.es")


def ascii_fold(s: str) -> str:
    s = s.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    s = s.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _number(rng: random.Random, country: str, prefix: str, length: int) -> str:
    """A national significant number starting with ``prefix``; the first free digit is not 0 or 1."""
    return prefix + str(rng.randrange(2, 10)) + _digits(rng, length - len(prefix) - 1)


def _write(rng: random.Random, country: str, nsn: str, style: str | None = None) -> str:
    """The number as people type it: international ('+44 141 ...'), national ('0141 ...') or bare digits."""
    code, trunk, _ = COUNTRIES[country]
    style = style or rng.choice(("intl", "intl", "national", "national", "dots"))
    if country == "United States":
        a, b, c = nsn[:3], nsn[3:6], nsn[6:]
        return {"intl": f"+1 {a} {b} {c}", "national": f"({a}) {b}-{c}", "dots": f"{a}.{b}.{c}"}[style]
    head, rest = nsn[:len(nsn) - 6], nsn[-6:]
    if style == "intl":
        return f"+{code} {head} {rest[:3]} {rest[3:]}"
    if style == "national":
        return f"{trunk}{head} {rest[:3]} {rest[3:]}"
    return f"{trunk}{head}{rest}"


def _typo(rng: random.Random, s: str, ops=("swap", "drop", "double", "replace")) -> str:
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    op = rng.choice(ops)
    if op == "swap" and s[i] != s[i + 1]:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if op == "drop":
        return s[:i] + s[i + 1:]
    if op == "double":
        return s[:i] + s[i] + s[i:]
    c = rng.choice("aeioulnrst".replace(s[i].lower(), ""))
    return s[:i] + c + s[i + 1:]


def _local(pattern: str, first: str, last: str) -> str:
    f, l = ascii_fold(first).lower().replace(" ", ""), ascii_fold(last).lower().replace(" ", "")
    return {"first.last": f"{f}.{l}", "flast": f"{f[0]}{l}", "first_last": f"{f}_{l}", "firstl": f"{f}{l[0]}",
            "first": f, "last.first": f"{l}.{f}"}[pattern]


# A harder list than the default, for robustness checks (bench_dedupe.py --unseen-hard): namesakes and
# relatives three times as often, most people on the switchboard, larger firms.
HARD = dict(namesakes=0.10, relatives=0.12, switchboard=0.7, largest=150.0)


def generate(n: int = 8000, seed: int = 11, dup_rate: float = 0.13, namesakes: float = 0.03, relatives: float = 0.04,
             switchboard: float = 0.45, largest: float = 60.0,
             countries: tuple[str, ...] = ("United States", "United Kingdom", "Germany", "Australia"),
             ) -> tuple[pd.DataFrame, set, set]:
    rng = random.Random(seed)
    names = {c: (FIRST[c].split(), [x.replace("_", " ") for x in LAST[c].split()]) for c in countries}
    countries = list(countries)
    free = FREE_OTHER if "France" in countries else FREE
    weights = [COUNTRIES[c][2] for c in countries]
    originals = int(n / (1 + dup_rate))
    # companies: a switchboard, a mailbox pattern, a city; a few hundred people at the largest
    companies, bases = [], set()
    for k in range(max(30, originals // 6)):
        country = rng.choices(countries, weights)[0]
        city = rng.choice(list(CITIES[country]))
        area, length = CITIES[country][city]
        base = f"{rng.choice(CO_WORDS)} {rng.choice(CO_KIND)}"
        while base in bases:  # one firm, one name and one domain (other firms of a name live elsewhere)
            base = f"{rng.choice(CO_WORDS)} {rng.choice(CO_WORDS)} {rng.choice(CO_KIND)}"
        bases.add(base)
        domain = base.lower().replace(" ", "") + TLD[country]
        companies.append(dict(name=base, form=rng.choice(CO_FORM[country]), domain=domain, country=country, city=city,
                              board=_number(rng, country, area, length), area=area, length=length,
                              pattern=rng.choice(("first.last", "first.last", "flast", "first_last", "firstl", "last.first")),
                              size=min(rng.paretovariate(1.2), largest)))
    # names are drawn so that namesakes happen, as in a real list: small pools, many people
    sizes = [c["size"] for c in companies]
    people: list[dict] = []
    hard: set = set()
    mailboxes: set[str] = set()
    by_name_city: dict[tuple, list[int]] = {}
    by_company: dict[int, list[int]] = {}
    taken: set[tuple] = set()
    name_keys: list[tuple] = []
    while len(people) < originals:
        ci = rng.choices(range(len(companies)), sizes)[0]
        co = companies[ci]
        country = co["country"]
        firsts, lasts = names[country]
        family = by_company.get(ci) and rng.random() < relatives  # a relative at the family firm: same last name
        if family:
            last = people[rng.choice(by_company[ci])]["last_name"]
        else:
            last = rng.choice(lasts)
        first = rng.choice(firsts)
        if (first, last, ci) in taken:  # two people of one name at one firm are rare: draw again
            continue
        if rng.random() < namesakes and by_name_city:  # a namesake in the same city, at another company
            key = rng.choice(name_keys)
            src = people[by_name_city[key][0]]
            if src["country"] == country and (src["first_name"], src["last_name"], ci) not in taken:
                first, last = src["first_name"], src["last_name"]
        taken.add((first, last, ci))
        local = _local(co["pattern"], first, last)
        email = f"{local}@{co['domain']}"
        suffix = 1
        while email in mailboxes:  # a second Jürgen Brandt gets jurgen.brandt2@
            suffix += 1
            email = f"{local}{suffix}@{co['domain']}"
        mailboxes.add(email)
        r = rng.random()
        if r < switchboard:
            phone = _write(rng, country, co["board"])  # the switchboard
        elif r < switchboard + 0.35 * (1 - switchboard) / 0.55:
            phone = _write(rng, country, _number(rng, country, co["area"], co["length"]))  # a direct line
        elif MOBILE[country]:
            phone = _write(rng, country, _number(rng, country, *MOBILE[country]))
        else:
            phone = _write(rng, country, _number(rng, country, co["area"], co["length"]))
        row = dict(first_name=first, last_name=last, email=email if rng.random() < 0.92 else None,
                   phone=phone if rng.random() < 0.85 else None,
                   company=f"{co['name']} {co['form']}".strip(), city=co["city"], country=country,
                   website=f"https://www.{co['domain']}" if rng.random() < 0.3 else None,
                   created=pd.Timestamp("2024-01-01") + pd.Timedelta(days=rng.randrange(600)),
                   _ci=ci, _nsn=None)
        i = len(people)
        people.append(row)
        for j in by_company.get(ci, [])[-3:]:
            hard.add(frozenset((i, j)))  # colleagues
        for j in by_name_city.get((first, last, co["city"]), []):
            hard.add(frozenset((i, j)))  # namesakes in one city
        by_company.setdefault(ci, []).append(i)
        if (first, last, co["city"]) not in by_name_city:
            name_keys.append((first, last, co["city"]))
        by_name_city.setdefault((first, last, co["city"]), []).append(i)

    rows = [dict(p) for p in people]
    truth: set = set()
    private: dict[str, int] = {}  # private mailbox -> the person it is
    kinds = ["truncated_first", "initial_first", "nick", "typo_first", "double_last", "swap_last", "local_typo",
             "private_mail", "phone_format", "drop_phone", "drop_email", "case", "ascii", "company_form",
             "drop_city", "swap_names", "drop_company"]
    while len(rows) < n:
        k = rng.randrange(originals)
        src = people[k]
        d = dict(src)
        co = companies[src["_ci"]]
        for change in rng.sample(kinds, rng.choice((1, 2, 2, 3))):
            first, last = d["first_name"], d["last_name"]
            if change == "truncated_first" and len(first) >= 5:
                d["first_name"] = first[:rng.choice((3, 4))]
            elif change == "initial_first":
                d["first_name"] = first[0] + rng.choice((".", ""))
            elif change == "nick" and first in NICKS:
                d["first_name"] = NICKS[first]
            elif change == "typo_first":
                d["first_name"] = _typo(rng, first)
            elif change == "double_last" and len(last) >= 4:
                i = rng.randrange(1, len(last))
                d["last_name"] = last[:i] + last[i] + last[i:]
            elif change == "swap_last":
                d["last_name"] = _typo(rng, last, ("swap",))
            elif change == "local_typo" and d.get("email"):
                local, dom = d["email"].split("@")
                d["email"] = _typo(rng, local, ("swap", "drop", "double", "replace")) + "@" + dom
            elif change == "private_mail":
                f, l = ascii_fold(first).lower().replace(" ", ""), ascii_fold(last).lower().replace(" ", "")
                local = rng.choice((f"{f}.{l}", f"{f}{l}", f"{f[0]}{l}{rng.randint(1, 99)}", f"{l}.{f}{rng.randint(60, 99)}"))
                email = f"{local}@{rng.choice(free)}"
                while private.setdefault(email, k) != k:  # one mailbox is one person's, namesakes' too
                    email = email.replace("@", f"{rng.randint(1, 9)}@")
                d["email"] = email
            elif change == "phone_format" and d.get("phone"):
                digits = "".join(ch for ch in d["phone"] if ch.isdigit())
                code, trunk, _ = COUNTRIES[d["country"]]
                nsn = digits[len(code):] if d["phone"].startswith("+") else digits[len(trunk):]
                d["phone"] = _write(rng, d["country"], nsn)
            elif change.startswith("drop_"):
                d[change[5:]] = None
            elif change == "case":
                d["first_name"], d["last_name"] = first.upper(), last.upper()
                if d.get("email"):
                    d["email"] = d["email"].capitalize()
            elif change == "ascii":
                d["first_name"], d["last_name"] = ascii_fold(first), ascii_fold(last)
            elif change == "company_form":
                d["company"] = f"{co['name']}{rng.choice((', ', ' '))}{rng.choice(CO_FORM[co['country']])}".strip(" ,")
            elif change == "swap_names":
                d["first_name"], d["last_name"] = last, first
        d["created"] = src["created"] + pd.Timedelta(days=rng.randrange(1, 200))
        truth.add(frozenset((k, len(rows))))
        rows.append(d)
    ids = [f"L-{i + 1:06d}" for i in range(len(rows))]
    df = pd.DataFrame(rows, index=ids).drop(columns=["_ci", "_nsn"])
    df["status"] = "new"
    order = list(range(len(df)))
    rng.shuffle(order)  # duplicates are not at the end of a real list
    df = df.iloc[order]
    as_pairs = lambda s: {frozenset((("leads", ids[a]), ("leads", ids[b]))) for a, b in (tuple(p) for p in s)}
    truth_pairs = as_pairs(truth)
    return df, truth_pairs, as_pairs(hard) - truth_pairs
