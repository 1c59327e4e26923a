"""The jobs (check, dedupe, automate, report): pure functions from Tables and their last state to a JobResult.

MEMORIES names what each job keeps in its state only to go faster next time, and rebuilds from the tables when
it is missing (check's row verdicts and phone verdicts, dedupe's match keys, automate's digests of what its
rules looked at). The outbox keeps these for the newest generations only: at 100k leads they are tens of MB per
generation, and the older generations (kept so a restored backup finds its states) need only the rest.
"""
MEMORIES: dict[str, tuple[str, ...]] = {"check": ("rows", "phones"), "dedupe": ("keys",), "automate": ("evaluated",)}
