"""Documents built from stored records: the lead report, the disclosure packet and the
transparency report (docs/reports.md). Rendering is pure: no database, no clock."""
