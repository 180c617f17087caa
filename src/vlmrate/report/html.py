"""The pieces of the HTML report: escaping, tables, the inline stylesheet (screen and
print) and inline SVG. Every text that enters the page goes through :func:`esc`, so an
answer holding ``<script>`` shows as text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

CSS = """
:root { --ink: #111; --muted: #555; --rule: #ccc; --band: #f3f3f3; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 15px; margin: 20px 0 6px; }
p.muted, .muted { color: var(--muted); }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
th, td { padding: 2px 10px 2px 0; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 1px solid var(--ink); }
caption { text-align: left; caption-side: top; }
tr.section td { font-weight: 600; padding-top: 8px; border-bottom: 1px solid var(--rule); }
td.text, th.text { text-align: left; white-space: pre-wrap; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
figure { margin: 18px 0 26px; }
figure .svg { width: 100%; }
figure .svg svg { width: 100%; height: auto; display: block; }
figure.single .svg { max-width: 520px; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
.case { border-top: 1px solid var(--rule); padding: 8px 0; }
.case img { float: right; max-width: 160px; max-height: 160px; margin: 0 0 8px 12px; }
.case::after { content: ""; display: block; clear: both; }
nav ul { columns: 2; font-size: 13px; }
@media print {
  @page { size: A4; margin: 16mm 14mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav { display: none; }
  h2 { break-before: page; break-after: avoid; }
  h2.first { break-before: avoid; }
  h3 { break-after: avoid; }
  figure, .case, dl.facts, tr { break-inside: avoid; }
  thead { display: table-header-group; }  /* a long table repeats its header per page */
  h3 + table, h3 + p { break-before: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def esc(value: object) -> str:
    """Text for the page: HTML-escaped, control characters (terminal escapes, NUL)
    shown as U+FFFD."""
    return html.escape(CONTROL.sub("\ufffd", str(value)), quote=True)


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *,
          text_columns: Sequence[int] = (), sections: Sequence[int] = (),
          caption: str = "") -> str:
    """An HTML table; every cell escaped. ``text_columns``: left-aligned, wrapping;
    ``sections``: row indexes drawn as section headings."""
    text = set(text_columns)
    out = ["<table>"]
    if caption:
        out.append(f"<caption class='muted'>{esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(
        f"<th{' class=text' if i in text else ''}>{esc(h)}</th>" for i, h in enumerate(header))
        + "</tr></thead><tbody>")
    for n, row in enumerate(rows):
        if n in sections:
            out.append(f"<tr class='section'><td colspan='{len(header)}'>{esc(row[0])}</td></tr>")
            continue
        out.append("<tr>" + "".join(
            f"<td{' class=text' if i in text else ''}>{esc(c)}</td>" for i, c in enumerate(row))
            + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def facts(items: Iterable[tuple[str, object]]) -> str:
    return "<dl class='facts'>" + "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items) + "</dl>"


_XML_HEAD = re.compile(r"^\s*(<\?xml[^>]*\?>)?\s*(<!DOCTYPE[^>]*>)?\s*", re.S)
_ID = re.compile(r'\bid="([^"]+)"')


def inline_svg(svg: str, prefix: str) -> str:
    """matplotlib's SVG for inlining in the page: no XML header or doctype, every id
    prefixed (and the references to it), so two figures' ids never clash."""
    body = _XML_HEAD.sub("", svg, count=1)
    ids = set(_ID.findall(body))
    if not ids:
        return body

    def ref(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"{match.group(1)}{prefix}-{name}" if name in ids else match.group(0)

    body = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', body)
    return re.sub(r'(url\(#|href="#)([^)"]+)', ref, body)


def page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            # no request of any kind leaves the page: not even an image, font or favicon
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<link rel='icon' href='data:,'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")
