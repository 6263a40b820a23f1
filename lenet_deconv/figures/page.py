"""index.html: every figure of a gallery with its caption, grouped in sections."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from numpy_lenet.atomic import atomic_path

INDEX_NAME = "index.html"


@dataclass(frozen=True)
class Entry:
    """One figure on the page: its section, its file (relative to the page) and caption."""

    section: str
    file: str
    caption: str
    data: tuple[str, ...] = ()  # files (relative to the page) of the numbers behind it


def write_index(out: Path, title: str, intro: str, entries: list[Entry]) -> Path:
    """Write ``out/index.html`` showing ``entries`` in order, one section per distinct name."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "figure{margin:1.5em 0}img{max-width:100%;border:1px solid #ddd}"
        "figcaption{color:#333;max-width:60em}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(intro)}</p>",
    ]
    sections = list(dict.fromkeys(entry.section for entry in entries))
    parts.append("<ul>")
    parts += [f'<li><a href="#s{i}">{html.escape(s)}</a></li>' for i, s in enumerate(sections)]
    parts.append("</ul>")
    for i, section in enumerate(sections):
        parts.append(f'<h2 id="s{i}">{html.escape(section)}</h2>')
        for entry in (e for e in entries if e.section == section):
            src = html.escape(entry.file, quote=True)
            links = ", ".join(
                f'<a href="{html.escape(d, quote=True)}">{html.escape(d)}</a>' for d in entry.data
            )
            numbers = f" Numbers: {links}." if links else ""
            parts.append(
                f'<figure><a href="{src}"><img src="{src}" alt="{src}" loading="lazy"></a>'
                f"<figcaption>{html.escape(entry.caption)}{numbers}</figcaption></figure>"
            )
    parts.append("</body></html>")
    path = out / INDEX_NAME
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path
