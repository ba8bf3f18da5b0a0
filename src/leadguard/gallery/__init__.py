"""The gallery: enrollment from sources, re-embedding, the index derived from the database
(its files, checks and counts) and its maintenance."""
