"""The dedupe job: find, explain, merge (and unmerge) duplicate leads, contacts and accounts.

matching.py finds pairs (match keys in matchkeys.py, blocking.py, scoring in pairscores.py and orgs.py, the words
in explain.py), merge.py merges and keeps what unmerge needs, review.py is the people's side (Duplicate Decisions,
Duplicates Review), job.py puts them together. Pure: model in, JobResult out.
"""
from crm_sheets.jobs.dedupe.job import dedupe, unmerge
from crm_sheets.jobs.dedupe.pairscores import forget_keys
from crm_sheets.jobs.dedupe.matching import MatchPair, MatchSettings, find_pairs

__all__ = ["MatchPair", "MatchSettings", "dedupe", "find_pairs", "forget_keys", "unmerge"]
