"""LeadGuard: face search that returns candidates, never verdicts.

Data flows one way: image -> face -> template -> candidates. See docs/architecture.md.
Nothing is loaded at import time; models load in an explicit ``load()``.
"""

__version__ = "0.1.0"
