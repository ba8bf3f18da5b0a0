"""The tamper-evident audit trail: the hash-chained log (``log``), the records each entry
covers (``records``), the baseline of covered rows (``baseline``) and external anchors
(``anchor``)."""
