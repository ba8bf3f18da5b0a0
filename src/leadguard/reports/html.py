"""HTML rendering with Jinja2 (autoescaped): one self-contained file, pictures embedded
as data URIs from the stored bytes."""

from __future__ import annotations

import base64

from jinja2 import Environment, select_autoescape

from leadguard.reports.document import Document, Fields, Heading, Para, Picture, Table

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ doc.title }}</title>
<style>
body { font-family: "DejaVu Sans", sans-serif; max-width: 60em; margin: 1em auto; }
.banner { color: #a00; font-weight: bold; text-align: center; font-size: 1.2em;
  border: 2px solid #a00; padding: .4em; }
.warning { background: #ffebe6; border: 1px solid #a00; padding: .4em; font-weight: bold; }
table { border-collapse: collapse; margin: .5em 0; font-size: .85em; }
th, td { border: 1px solid #999; padding: .2em .4em; text-align: left; vertical-align: top; }
th { background: #e6e6e6; }
figure { margin: .5em 0; } img { max-width: 100%; }
</style></head>
<body>
<p class="banner">{{ doc.banner }}</p>
<h1>{{ doc.title }}</h1>
{% for b in blocks %}
{%- if b.kind == "heading" %}<h{{ b.level + 1 }}>{{ b.text }}</h{{ b.level + 1 }}>
{%- elif b.kind == "para" %}<p{% if b.warning %} class="warning"{% endif %}>{{ b.text }}</p>
{%- elif b.kind == "fields" %}<table>{% for k, v in b.rows %}
<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
{%- elif b.kind == "table" %}<table><tr>{% for h in b.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in b.rows %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</table>
{%- elif b.kind == "picture" %}<figure>
<img alt="{{ b.caption }}" src="data:{{ b.mime }};base64,{{ b.data }}">
<figcaption>{{ b.caption }}</figcaption></figure>
{%- endif %}
{% endfor %}
</body></html>
"""


def _view(b: object) -> dict[str, object]:
    if isinstance(b, Heading):
        return {"kind": "heading", "text": b.text, "level": b.level}
    if isinstance(b, Para):
        return {"kind": "para", "text": b.text, "warning": b.warning}
    if isinstance(b, Fields):
        return {"kind": "fields", "rows": b.rows}
    if isinstance(b, Table):
        return {"kind": "table", "header": b.header, "rows": b.rows}
    if isinstance(b, Picture):
        return {
            "kind": "picture",
            "caption": b.caption,
            "mime": b.mime,
            "data": base64.b64encode(b.data).decode(),
        }
    raise TypeError(f"unknown block {type(b).__name__}")


def render_html(doc: Document) -> bytes:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    page = env.from_string(TEMPLATE).render(doc=doc, blocks=[_view(b) for b in doc.blocks])
    return page.encode("utf-8")
