"""Pages for Snakemake's HTML report (``snakemake --report``): the scorecard as a self-contained HTML page.

The report embeds every result flagged with ``report()`` in the workflow; the scorecard
(:mod:`repro.common.scorecard`) is Markdown, which the report would only offer as a download, so
:func:`markdown_page` renders it to one HTML page (tables included, no external resources) that the report
shows inline.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1f2328; max-width: 110rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.85rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.5rem; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfbfc; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2rem; } h3 { font-size: 1.1rem; }
code { font-size: 0.85em; }
"""


def markdown_page(markdown: str, title: str) -> str:
    """A standalone HTML document (inline CSS only) rendering ``markdown`` (CommonMark with tables).

    Raw HTML in the Markdown is escaped, not passed through.
    """
    if not isinstance(markdown, str):
        raise TypeError(f"markdown_page: markdown must be str, not {type(markdown).__name__}")
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
