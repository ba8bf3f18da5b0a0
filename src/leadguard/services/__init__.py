"""The application layer: one function per operation. Each takes an explicit ``Context``
(workspace settings, session factory, index store, face model loaded on first use) and the
acting user, authorises, does its work, audits it, and returns typed values. Shells (the CLI,
later an API) parse, call one service and render; they never touch the ORM."""
