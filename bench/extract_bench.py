"""Source extraction: HTML pages per second and quality, PDF pages per second.

HTML: the portal pages of ``tests/data/portal`` (and the test corpus' page), each scored
against ``gold.json`` (article sentences found, furniture lines leaked, title, date and
author right) and timed, for the current reader (trafilatura main content + the
Vietnamese cleaner) and for the hand-written block parser it replaced, loaded from a git
revision (``--before``). PDF: the Chromium-printed press release, read whole (open, text
layer, paragraphs, metadata) by the current reader; pypdf is timed beside it when it
happens to be installed (it is not a dependency).

    .venv/bin/python bench/extract_bench.py                 # writes bench/results/extract.json
    .venv/bin/python bench/extract_bench.py --before 3e68d18 --rounds 20
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.normalize import match_form  # noqa: E402

PORTAL = ROOT / "tests" / "data" / "portal"
PDF = ROOT / "tests" / "data" / "formats" / "thong-cao-bac-ninh.pdf"
BEFORE = "3e68d18"  # the last revision with the hand-written HTML parser


def _old_cleaner(revision: str):
    """``clean_article`` of ``revision`` (its markup.py and clean.py), importable beside ours."""
    folder = Path(tempfile.mkdtemp(prefix="hoidap-old-"))
    package = folder / "old_index"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("markup.py", "clean.py"):
        source = subprocess.run(
            ["git", "show", f"{revision}:index/{name}"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        (package / name).write_text(source.replace("from index.markup", "from old_index.markup"))
    sys.path.insert(0, str(folder))
    from old_index.clean import clean_article

    return lambda data, name: clean_article(data.decode("utf-8"), name, data)[0]


def _new_cleaner():
    from index.clean import clean_document
    from index.sources.base import Document
    from index.sources.html import page_text, with_title

    def clean(data: bytes, name: str):
        page = page_text(data)  # extraction only: the not-an-article check is not timed apart
        doc = Document(
            name, with_title(page.title, page.lines), data, page.title, page.date, page.author
        )
        return clean_document(doc)[0]

    return clean


def _score(clean, pages: list[tuple[str, bytes, dict]]) -> dict:
    found = total = leaked = furniture = title = date = author = 0
    for name, data, gold in pages:
        article = clean(data, name)
        text = match_form(article.title + "\n" + article.body)
        found += sum(match_form(s) in text for s in gold["body"])
        total += len(gold["body"])
        leaked += sum(match_form(s) in match_form(article.body) for s in gold["furniture"])
        furniture += len(gold["furniture"])
        title += article.title == gold["title"]
        date += article.date == gold["date"]
        author += article.author == gold["author"]
    n = len(pages)
    return {
        "article_sentences_found": f"{found}/{total}",
        "furniture_leaked": f"{leaked}/{furniture}",
        "title_right": f"{title}/{n}",
        "date_right": f"{date}/{n}",
        "author_right": f"{author}/{n}",
    }


def _rate(fn, items: list, rounds: int) -> float:
    """Items per second: the median of ``rounds`` timed passes over all items."""
    fn(*items[0])  # warm-up: imports and caches
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            fn(*item)
        times.append(time.perf_counter() - started)
    return round(len(items) / statistics.median(times), 1)


def _pdf_rates(rounds: int) -> dict:
    from index.sources.pdf import read_pdf

    data = PDF.read_bytes()
    import pypdfium2 as pdfium

    pages = len(pdfium.PdfDocument(data))
    out = {"file": PDF.name, "pages": pages}
    out["pypdfium2_reader_pages_per_s"] = round(
        pages * _rate(lambda: read_pdf(data, PDF, PDF.name), [()], rounds), 1
    )
    if importlib.util.find_spec("pypdf") is not None:
        import io

        import pypdf

        def pypdf_text():
            return [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages]

        out["pypdf_text_only_pages_per_s"] = round(pages * _rate(pypdf_text, [()], rounds), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default=BEFORE, help="git revision of the previous parser")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "extract.json")
    args = parser.parse_args()
    gold = json.loads((PORTAL / "gold.json").read_text(encoding="utf-8"))
    pages = [(n, (PORTAL / g.get("path", n)).read_bytes(), g) for n, g in sorted(gold.items())]
    timed = [(data, n) for n, data, _ in pages]
    report = {"benchmark": "extract", "machine": _machine(), "html_pages": len(pages)}
    for label, clean in (("before", _old_cleaner(args.before)), ("after", _new_cleaner())):
        report[f"html_{label}"] = {
            **_score(clean, pages),
            "pages_per_s": _rate(clean, timed, args.rounds),
        }
    report["html_before"]["code"] = f"index/markup.py + index/clean.py at {args.before}"
    report["html_after"]["code"] = "index/sources/html.py (trafilatura) + index/clean.py"
    report["pdf"] = _pdf_rates(args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))


def _machine() -> dict:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        cpuinfo = []
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
