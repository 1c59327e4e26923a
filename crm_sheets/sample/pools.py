"""Word pools of the sample data: names by country, cities, phone numbering plans, company words.

Plain constants. Phone prefixes are chosen so that every generated number is valid for
phonenumbers (tests check it); cities carry their landline area code.
"""
from __future__ import annotations

# Countries the sample people live in, with their share of leads.
COUNTRY_WEIGHTS = {
    "US": 0.30, "GB": 0.13, "FR": 0.14, "DE": 0.10, "CA": 0.08, "BE": 0.05, "CH": 0.05,
    "ES": 0.04, "IE": 0.04, "NL": 0.04, "IT": 0.03,
}

# (country calling code, trunk prefix written before national numbers)
DIALING = {
    "US": ("1", ""), "CA": ("1", ""), "GB": ("44", "0"), "FR": ("33", "0"), "DE": ("49", "0"),
    "BE": ("32", "0"), "CH": ("41", "0"), "ES": ("34", ""), "IE": ("353", "0"), "NL": ("31", "0"),
    "IT": ("39", ""),
}

# city -> (landline prefix of the national significant number, its total length, digit groups)
CITIES = {
    "US": {"New York": ("212", 10, (3, 3, 4)), "San Francisco": ("415", 10, (3, 3, 4)), "Boston": ("617", 10, (3, 3, 4)),
           "Chicago": ("312", 10, (3, 3, 4)), "Seattle": ("206", 10, (3, 3, 4)), "Austin": ("512", 10, (3, 3, 4)),
           "Denver": ("303", 10, (3, 3, 4)), "Atlanta": ("404", 10, (3, 3, 4))},
    "CA": {"Toronto": ("416", 10, (3, 3, 4)), "Montreal": ("514", 10, (3, 3, 4)), "Vancouver": ("604", 10, (3, 3, 4)),
           "Ottawa": ("613", 10, (3, 3, 4)), "Calgary": ("403", 10, (3, 3, 4))},
    "GB": {"London": ("207", 10, (2, 4, 4)), "Manchester": ("161", 10, (3, 3, 4)), "Birmingham": ("1214", 10, (3, 3, 4)),
           "Edinburgh": ("1314", 10, (3, 3, 4)), "Bristol": ("1179", 10, (3, 3, 4)), "Leeds": ("1132", 10, (3, 3, 4))},
    "FR": {"Paris": ("14", 9, (1, 2, 2, 2, 2)), "Lyon": ("472", 9, (1, 2, 2, 2, 2)), "Marseille": ("491", 9, (1, 2, 2, 2, 2)),
           "Toulouse": ("561", 9, (1, 2, 2, 2, 2)), "Bordeaux": ("556", 9, (1, 2, 2, 2, 2)), "Lille": ("320", 9, (1, 2, 2, 2, 2)),
           "Nantes": ("240", 9, (1, 2, 2, 2, 2))},
    "DE": {"Berlin": ("30", 10, (2, 8)), "Munich": ("89", 10, (2, 8)), "Hamburg": ("40", 10, (2, 8)),
           "Frankfurt": ("69", 10, (2, 8)), "Cologne": ("221", 10, (3, 7))},
    "BE": {"Brussels": ("22", 8, (1, 3, 2, 2)), "Antwerp": ("32", 8, (1, 3, 2, 2)), "Ghent": ("92", 8, (1, 3, 2, 2)),
           "Liège": ("42", 8, (1, 3, 2, 2))},
    "CH": {"Zurich": ("44", 9, (2, 3, 2, 2)), "Geneva": ("22", 9, (2, 3, 2, 2)), "Basel": ("61", 9, (2, 3, 2, 2)),
           "Bern": ("31", 9, (2, 3, 2, 2)), "Lausanne": ("21", 9, (2, 3, 2, 2))},
    "ES": {"Madrid": ("91", 9, (3, 3, 3)), "Barcelona": ("93", 9, (3, 3, 3)), "Valencia": ("96", 9, (3, 3, 3)),
           "Seville": ("95", 9, (3, 3, 3))},
    "IE": {"Dublin": ("1", 8, (1, 3, 4)), "Cork": ("21", 9, (2, 3, 4)), "Galway": ("91", 8, (2, 3, 3))},
    "NL": {"Amsterdam": ("20", 9, (2, 3, 4)), "Rotterdam": ("10", 9, (2, 3, 4)), "Utrecht": ("30", 9, (2, 3, 4)),
           "The Hague": ("70", 9, (2, 3, 4))},
    "IT": {"Milan": ("02", 10, (2, 4, 4)), "Rome": ("06", 10, (2, 4, 4)), "Turin": ("011", 10, (3, 3, 4))},
}

# Mobile numbers: (prefix of the national significant number, total length, digit groups). North American
# mobiles have the city's area code, so they use the landline plan.
MOBILES = {
    "GB": [("778", 10, (4, 6)), ("779", 10, (4, 6)), ("795", 10, (4, 6)), ("797", 10, (4, 6))],
    "FR": [("61", 9, (1, 2, 2, 2, 2)), ("62", 9, (1, 2, 2, 2, 2)), ("64", 9, (1, 2, 2, 2, 2)), ("66", 9, (1, 2, 2, 2, 2)), ("67", 9, (1, 2, 2, 2, 2)), ("76", 9, (1, 2, 2, 2, 2))],
    "DE": [("151", 11, (3, 8)), ("176", 11, (3, 8)), ("160", 10, (3, 7))],
    "BE": [("47", 9, (3, 2, 2, 2)), ("48", 9, (3, 2, 2, 2)), ("49", 9, (3, 2, 2, 2))],
    "CH": [("76", 9, (2, 3, 2, 2)), ("78", 9, (2, 3, 2, 2)), ("79", 9, (2, 3, 2, 2))],
    "ES": [("6", 9, (3, 3, 3))],
    "IE": [("83", 9, (2, 3, 4)), ("85", 9, (2, 3, 4)), ("87", 9, (2, 3, 4))],
    "NL": [("61", 9, (1, 8)), ("62", 9, (1, 8)), ("64", 9, (1, 8))],
    "IT": [("33", 10, (3, 3, 4)), ("34", 10, (3, 3, 4))],
}

_EN_FIRST = [
    "James", "Robert", "William", "Michael", "David", "Richard", "Thomas", "Christopher", "Daniel", "Matthew",
    "Alexander", "Andrew", "Joshua", "Ryan", "Brian", "Kevin", "Jason", "Eric", "Tyler", "Nathan",
    "Mary", "Jennifer", "Elizabeth", "Katherine", "Sarah", "Jessica", "Emily", "Ashley", "Amanda", "Megan",
    "Rachel", "Laura", "Hannah", "Olivia", "Sophia", "Grace", "Chloe", "Zoe", "Abigail", "Madison",
    "Priya", "Wei", "Mei", "Jin", "Aisha", "Omar", "Carlos", "Sofia", "Mateo", "Isabella", "Kwame", "Amara",
    "Raj", "Anika", "Hiroshi", "Yuki", "Dmitri", "Ingrid", "Siobhan", "Declan",
]
_EN_LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
    "Thomas", "Moore", "Jackson", "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young",
    "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Carter", "Mitchell", "Roberts",
    "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Morris", "Murphy",
    "Cook", "Rogers", "Reed", "Bailey", "Cooper", "Howard", "Ward", "Cox", "Richardson", "Wood",
    "Patel", "Nguyen", "Kim", "Chen", "Singh", "Okafor", "Haddad", "Kowalski", "O'Brien", "McDonald",
    "García", "Rodríguez", "Núñez", "Tanaka", "Ivanova", "Mensah", "O'Connor", "MacLeod", "Fitzgerald", "Hughes",
]
_GB_LAST = _EN_LAST + ["Thompson", "Robinson", "Wright", "Bennett", "Price", "Shaw", "Lloyd", "Ellis", "Begum", "Ahmed", "Khan", "Hussain"]
_IE_FIRST = ["Aoife", "Ciara", "Niamh", "Saoirse", "Siobhan", "Sinéad", "Orla", "Róisín", "Declan", "Cian", "Conor", "Darragh",
             "Eoin", "Oisín", "Seán", "Pádraig", "Liam", "Patrick", "Michael", "Katherine", "William", "Robert", "Mary", "Emma"]
_IE_LAST = ["Murphy", "Kelly", "O'Sullivan", "Walsh", "O'Brien", "Byrne", "Ryan", "O'Connor", "O'Neill", "O'Reilly",
            "Doyle", "McCarthy", "Gallagher", "Doherty", "Kennedy", "Lynch", "Murray", "Quinn", "Moore", "McLoughlin",
            "Ó Briain", "Fitzgerald", "Brennan", "Nolan"]
_FR_FIRST = [
    "Marie", "Camille", "Léa", "Chloé", "Manon", "Inès", "Sarah", "Élodie", "Hélène", "Zoé", "Anaïs", "Céline",
    "Mathilde", "Juliette", "Margaux", "Clémence", "Aurélie", "Sophie", "Nathalie", "Isabelle",
    "Jean", "Pierre", "Louis", "Lucas", "Hugo", "Thomas", "Nicolas", "Julien", "Antoine", "Maxime",
    "François", "Jérôme", "Benoît", "Loïc", "Théo", "Raphaël", "Mathéo", "Gaël", "Jean-Pierre", "Marc-Antoine",
    "Alexandre", "Sébastien", "Yasmine", "Karim", "Mehdi", "Fatima", "Amadou", "Mamadou", "Linh", "Kevin",
]
_FR_LAST = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
    "Morel", "Girard", "André", "Lefebvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez",
    "Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas",
    "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin",
    "Benali", "Nguyen", "Diallo", "Haddad", "Traoré", "de la Tour", "Le Gall", "Le Roux", "d'Almeida", "Ménard",
]
_DE_FIRST = [
    "Lukas", "Leon", "Maximilian", "Felix", "Jonas", "Paul", "Elias", "Jürgen", "Günter", "Stefan",
    "Andreas", "Michael", "Thomas", "Tobias", "Florian", "Matthias", "Sebastian", "Jörg", "Uwe", "Klaus",
    "Anna", "Lena", "Leonie", "Hannah", "Lea", "Sophie", "Marie", "Katharina", "Julia", "Sabine",
    "Ursula", "Jana", "Franziska", "Birgit", "Jörn", "Björn", "Käthe", "Mia", "Emre", "Ayşe",
]
_DE_LAST = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
    "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann",
    "Jäger", "Köhler", "Günther", "Yılmaz", "Kaya", "Kowalczyk", "von Berg", "Vogel", "Friedrich", "Keller",
]
_NL_FIRST = ["Daan", "Sem", "Lucas", "Levi", "Finn", "Bram", "Jesse", "Thijs", "Ruben", "Sander", "Emma", "Julia",
             "Sophie", "Anouk", "Fleur", "Sanne", "Lotte", "Femke", "Eva", "Noor", "Mohamed", "Fatima"]
_NL_LAST = ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer",
            "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer",
            "El Amrani", "Yılmaz"]
_BE_FIRST = ["Lucas", "Louis", "Noah", "Arthur", "Jules", "Adam", "Victor", "Mathis", "Wout", "Pieter", "Emma", "Louise",
             "Olivia", "Elise", "Marie", "Lore", "Hélène", "Chloé", "Amélie", "Anouk", "Thibault", "Géraldine"]
_BE_LAST = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
            "Dubois", "Lambert", "Dupont", "Martin", "Simon", "Leclercq", "Lejeune", "Van Damme", "Vermeulen", "De Backer",
            "Declercq", "Dumont"]
_CH_FIRST = ["Luca", "Noah", "Leon", "Liam", "Gabriel", "Elias", "Matteo", "Nico", "Reto", "Urs", "Mia", "Emma",
             "Lina", "Léa", "Anna", "Laura", "Sara", "Chiara", "Corinne", "Nadine", "Beat", "Ursina"]
_CH_LAST = ["Müller", "Meier", "Schmid", "Keller", "Weber", "Huber", "Schneider", "Meyer", "Steiner", "Fischer",
            "Gerber", "Brunner", "Baumann", "Frei", "Zimmermann", "Moser", "Widmer", "Favre", "Rochat", "Bianchi",
            "Rossi", "Bühler"]
_ES_FIRST = ["Hugo", "Martín", "Lucas", "Mateo", "Daniel", "Pablo", "Álvaro", "Adrián", "Javier", "José", "Lucía", "Sofía",
             "Martina", "María", "Paula", "Valeria", "Julia", "Noelia", "Inés", "Begoña", "Iñaki", "Nuria"]
_ES_LAST = ["García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín",
            "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Núñez", "Peña",
            "Castaño", "Ibáñez"]
_IT_FIRST = ["Leonardo", "Francesco", "Alessandro", "Lorenzo", "Mattia", "Andrea", "Gabriele", "Riccardo", "Niccolò", "Giuseppe",
             "Sofia", "Giulia", "Aurora", "Alice", "Ginevra", "Emma", "Giorgia", "Beatrice", "Chiara", "Francesca"]
_IT_LAST = ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
            "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti"]

NAMES = {
    "US": (_EN_FIRST, _EN_LAST), "CA": (_EN_FIRST + ["Étienne", "Geneviève", "Mathieu", "Chantal"], _EN_LAST + ["Tremblay", "Gagnon", "Côté", "Bouchard", "Gauthier"]),
    "GB": (_EN_FIRST, _GB_LAST), "IE": (_IE_FIRST, _IE_LAST), "FR": (_FR_FIRST, _FR_LAST), "DE": (_DE_FIRST, _DE_LAST),
    "NL": (_NL_FIRST, _NL_LAST), "BE": (_BE_FIRST, _BE_LAST), "CH": (_CH_FIRST, _CH_LAST), "ES": (_ES_FIRST, _ES_LAST),
    "IT": (_IT_FIRST, _IT_LAST),
}

# Formal first name -> what the same person may be called in another record.
NICKNAMES = {
    "Robert": "Bob", "William": "Bill", "Katherine": "Kate", "Alexander": "Alex", "Elizabeth": "Liz",
    "Michael": "Mike", "James": "Jim", "Jennifer": "Jen", "Thomas": "Tom", "Daniel": "Dan", "Christopher": "Chris",
    "Richard": "Rick", "Matthew": "Matt", "Andrew": "Andy", "Joshua": "Josh", "Nathan": "Nate", "Abigail": "Abby",
    "Alexandre": "Alex", "Nicolas": "Nico", "Maximilian": "Max", "Katharina": "Kathi", "Francesco": "Franco",
    "Patrick": "Pat", "Samantha": "Sam", "Jessica": "Jess", "Rachel": "Rach", "Sebastian": "Basti",
}

# Same first and last name, many different people: the namesakes dedupe must keep apart.
COMMON_NAMES = [("John", "Smith"), ("Maria", "Garcia"), ("David", "Brown"), ("Marie", "Martin"), ("Thomas", "Müller"),
                ("Michael", "Johnson"), ("Sarah", "Wilson"), ("Jean", "Dupont"), ("Anna", "Schmidt"), ("James", "Murphy")]

PERSONAL_DOMAINS = {
    "US": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com"],
    "CA": ["gmail.com", "outlook.com", "yahoo.com", "icloud.com"],
    "GB": ["gmail.com", "hotmail.com", "outlook.com", "btinternet.com", "yahoo.com"],
    "IE": ["gmail.com", "outlook.com", "eircom.net", "hotmail.com"],
    "FR": ["gmail.com", "orange.fr", "free.fr", "hotmail.com", "laposte.net"],
    "DE": ["gmail.com", "gmx.de", "web.de", "t-online.de", "outlook.com"],
    "NL": ["gmail.com", "outlook.com", "ziggo.nl", "hotmail.com"],
    "BE": ["gmail.com", "skynet.be", "telenet.be", "hotmail.com"],
    "CH": ["gmail.com", "bluewin.ch", "gmx.ch", "outlook.com"],
    "ES": ["gmail.com", "hotmail.com", "yahoo.com", "outlook.com"],
    "IT": ["gmail.com", "libero.it", "hotmail.com", "outlook.com"],
}
# Typos people make in a provider's domain, and the domain they meant.
DOMAIN_TYPOS = {"gmail.com": "gmial.com", "hotmail.com": "hotmial.com", "yahoo.com": "yaho.com", "outlook.com": "outlok.com"}

TLD = {"US": "com", "CA": "ca", "GB": "co.uk", "IE": "ie", "FR": "fr", "DE": "de", "NL": "nl", "BE": "be",
       "CH": "ch", "ES": "es", "IT": "it"}
LEGAL_SUFFIX = {"US": ["Inc", "LLC", "Corp"], "CA": ["Inc", "Ltd"], "GB": ["Ltd", "PLC"], "IE": ["Ltd", "DAC"],
                "FR": ["SAS", "SA", "SARL"], "DE": ["GmbH", "AG"], "NL": ["B.V.", "N.V."], "BE": ["SRL", "NV"],
                "CH": ["AG", "SA", "GmbH"], "ES": ["S.L.", "S.A."], "IT": ["S.r.l.", "S.p.A."]}

COMPANY_FIRST = [
    "Acme", "Northwind", "Bluebird", "Silverline", "Redwood", "Brightpath", "Clearwater", "Evergreen", "Ironbridge",
    "Lighthouse", "Maple", "Oakridge", "Pinecrest", "Quantum", "Riverside", "Summit", "Sunrise", "Trident", "Vertex",
    "Westfield", "Zenith", "Alpine", "Aurora", "Beacon", "Cobalt", "Crescent", "Delta", "Eagle", "Falcon", "Granite",
    "Harbor", "Horizon", "Juniper", "Keystone", "Lakeside", "Meridian", "Nimbus", "Orion", "Pioneer", "Polaris",
    "Prairie", "Radiant", "Sapphire", "Sequoia", "Stonegate", "Tidewater", "Union", "Vanguard", "Willow", "Atlas",
    "Boreal", "Cardinal", "Cedar", "Copper", "Everest", "Fjord", "Glacier", "Highland", "Indigo", "Jade", "Kestrel",
    "Lumen", "Marble", "Nova", "Onyx", "Peregrine", "Quartz", "Raven", "Sterling", "Terra", "Ultra", "Velvet",
    "Wavecrest", "Yellowstone", "Zephyr", "Bellevue", "Montblanc", "Rhône", "Lumière", "Étoile", "Rivage", "Sorbonne",
    "Nordstern", "Bergblick", "Edelweiss", "Rheinland", "Kastanie", "Tulip", "Windmill", "Delft", "Iberia", "Solana",
    "Alhambra", "Vesuvio", "Dolomiti", "Aquila", "Celtic", "Shamrock", "Thistle", "Pennine", "Cotswold",
]
COMPANY_SECOND = {
    "software": ["Software", "Labs", "Systems", "Analytics", "Cloud", "Digital", "Data", "Tech", "AI", "Networks"],
    "manufacturing": ["Manufacturing", "Industries", "Engineering", "Machines", "Components", "Plastics", "Metals"],
    "retail": ["Retail", "Stores", "Market", "Foods", "Fashion", "Home", "Outfitters"],
    "healthcare": ["Health", "Medical", "Clinics", "Pharma", "Care", "Biotech"],
    "finance": ["Capital", "Finance", "Partners", "Wealth", "Insurance", "Payments"],
    "education": ["Academy", "Learning", "Education", "Institute", "School"],
    "consulting": ["Consulting", "Advisory", "Group", "Associates", "Strategy"],
    "construction": ["Construction", "Builders", "Homes", "Architects", "Build"],
    "hospitality": ["Hotels", "Hospitality", "Resorts", "Travel", "Catering"],
    "nonprofit": ["Foundation", "Trust", "Alliance", "Society"],
    "other": ["Logistics", "Energy", "Media", "Studio", "Design", "Transport"],
}
INDUSTRY_WEIGHTS = {"software": 0.22, "manufacturing": 0.12, "retail": 0.1, "healthcare": 0.1, "finance": 0.1,
                    "education": 0.06, "consulting": 0.1, "construction": 0.06, "hospitality": 0.05, "nonprofit": 0.03,
                    "other": 0.06}
SIZES = ["1-10", "11-50", "51-200", "201-1000", "1000+"]
SIZE_WEIGHTS = [0.22, 0.3, 0.25, 0.15, 0.08]
SIZE_EMPLOYEES = [(2, 10), (11, 50), (51, 200), (201, 1000), (1001, 20000)]

JOB_TITLES = [
    "CEO", "Founder", "CTO", "CFO", "COO", "VP Sales", "VP Marketing", "Head of Operations", "Head of IT",
    "Sales Director", "Marketing Director", "IT Director", "Operations Manager", "Office Manager", "Account Manager",
    "Procurement Manager", "Project Manager", "Product Manager", "Engineer", "Analyst", "Consultant", "Buyer",
    "HR Manager", "Finance Manager", "Directeur commercial", "Responsable achats", "Geschäftsführer", "Einkaufsleiter",
]
STREETS = {
    "US": ["Main Street", "Market Street", "Broadway", "Oak Avenue", "Park Avenue", "Pine Street"],
    "CA": ["King Street West", "Rue Sainte-Catherine", "Granville Street", "Bank Street"],
    "GB": ["High Street", "Station Road", "Church Lane", "King Street", "Victoria Road"],
    "IE": ["Grafton Street", "Patrick Street", "Shop Street", "Baggot Street"],
    "FR": ["rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "boulevard Pasteur", "rue de la Paix"],
    "DE": ["Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Goethestraße", "Lindenallee"],
    "NL": ["Kerkstraat", "Damrak", "Stationsplein", "Herengracht"],
    "BE": ["Rue Neuve", "Meir", "Avenue Louise", "Veldstraat"],
    "CH": ["Bahnhofstrasse", "Rue du Rhône", "Marktgasse", "Rue de Bourg"],
    "ES": ["Calle Mayor", "Gran Vía", "Avenida Diagonal", "Calle de Alcalá"],
    "IT": ["Via Roma", "Corso Italia", "Via Garibaldi", "Via Dante"],
}
NOTES = [
    "Met at the trade show.", "Prefers email over calls.", "Budget review in Q1.", "Asked for a demo.",
    "Decision expected after the board meeting.", "Referred by an existing customer.", "Call back after the holidays.",
    "Interested in the annual plan.", "Uses a competitor today.", "Wants a quote in EUR.",
]
