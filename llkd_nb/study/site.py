"""Render executed notebooks and the project's notes into static HTML pages, readable without Jupyter.

``llkd-nb site`` (``make site``) writes one page per notebook (figures embedded, so every page is a single
file), one per Markdown note, and an ``index.html`` that lists them in order.
"""

from __future__ import annotations

import html
from pathlib import Path


def _first_heading(notebook) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return ""


def build_site(notebooks: list[Path], notes: list[Path], out_dir: Path, title: str) -> Path:
    """Write ``out_dir/index.html`` and one page per notebook and note; returns the index."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbformat.v4 import new_markdown_cell, new_notebook

    exporter = HTMLExporter(template_name="lab")
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": path.stem}})
        page = f"{path.stem}.html"
        (out_dir / page).write_text(body, encoding="utf-8")
        entries.append((page, path.stem, _first_heading(notebook)))
    for path in notes:
        notebook = new_notebook(cells=[new_markdown_cell(path.read_text(encoding="utf-8"))])
        body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": path.stem}})
        page = f"{path.parent.name}_{path.stem}.html"
        (out_dir / page).write_text(body, encoding="utf-8")
        entries.append((page, f"{path.parent.name}/{path.name}", ""))
    items = "\n".join(f'<li><a href="{html.escape(page)}">{html.escape(name)}</a>'
                      + (f" · {html.escape(heading)}" if heading else "") + "</li>" for page, name, heading in entries)
    index = out_dir / "index.html"
    index.write_text(f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: sans-serif; max-width: 50em; margin: 3em auto; line-height: 1.5; }}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>The executed notebooks, in order, and the project's notes. Every page is a single file with its figures.</p>
<ul>
{items}
</ul></body></html>
""", encoding="utf-8")
    return index
