"""The core every other package stands on: types, errors, settings, serialisation, and the
safety of text and CSV read from outside. It imports nothing else from LeadGuard."""
