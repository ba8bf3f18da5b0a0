"""Casework safeguards: accounts and roles, cases, approved search requests, blind
two-examiner review, policy rules, lead outcomes (docs/casework.md)."""
