"""``hoidap`` command line: index, ask, serve, eval, keys.

Each subcommand lives in its own small function; errors become one clear line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from index.config import Settings
from index.errors import HoidapError

EXIT_USAGE = 2
EXIT_ERROR = 1
EXIT_SKIPPED = 3  # `hoidap index`: some inputs were skipped, the others indexed


class _Parser(argparse.ArgumentParser):
    """argparse that names the valid choices in Vietnamese and English on bad input."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised via subprocess
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"hoidap: lỗi / error: {message}\n")


def index_summary_line(summary) -> str:
    """What this run did, in one Vietnamese line (a vector-index repair first, the store's
    totals last)."""
    skipped = f"; bỏ qua {len(summary.errors)}" if summary.errors else ""
    repaired = (
        f"Chỉ mục vectơ bị hỏng nên đã được dựng lại từ văn bản đã lưu ({summary.repaired} "
        "đoạn, không tải lại nguồn). "
        if summary.repaired
        else ""
    )
    return repaired + (
        f"Lần này đã đọc {summary.files - summary.pages} tệp, {summary.pages} trang web: "
        f"bài mới {summary.articles_new}, đã đổi {summary.articles_changed}, "
        f"không đổi {summary.articles_unchanged}, đã xóa {summary.articles_removed}{skipped}. "
        f"Kho có {summary.chunks} đoạn (nhúng mới {summary.new}, xóa {summary.removed}), "
        f"{summary.seconds:.1f} giây."
    )


def _cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from index.pipeline import run_index
    from index.sources.web import is_web_address

    paths = [p if is_web_address(p) else Path(p) for p in (args.paths or ["seeds"])]
    summary = run_index(
        paths,
        settings,
        prune=args.prune,
        rebuild=args.rebuild,
        progress=not args.json,  # a bar on a terminal, a line every few seconds in a log
    )
    if args.json:
        print(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        for err in summary.errors:
            print(f"bỏ qua / skipped: {err}", file=sys.stderr)
        print(index_summary_line(summary))
    if summary.errors:
        return EXIT_ERROR if summary.files == 0 else EXIT_SKIPPED
    return 0


def _read_history(path: str | None) -> list[dict]:
    if not path:
        return []
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HoidapError(
            f"--history {path}: cannot read a JSON list of turns ({exc})",
            f"--history {path}: không đọc được danh sách lượt hội thoại JSON ({exc})",
            code="bad_history",
        ) from exc
    if not isinstance(data, list) or not all(
        isinstance(t, dict)
        and t.get("role") in ("user", "assistant")
        and isinstance(t.get("content"), str)
        for t in data
    ):
        raise HoidapError(
            f'--history {path}: expected [{{"role": "user"|"assistant", "content": "..."}}, ...]',
            f'--history {path}: cần dạng [{{"role": "user"|"assistant", "content": "..."}}, ...]',
            code="bad_history",
        )
    return data


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.answering.assistant import Assistant

    history = _read_history(args.history)
    answer = Assistant(settings).ask(args.question, history)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return 0
    print(answer.answer)
    if answer.notice:
        print(f"({answer.notice})")
    for c in answer.citations:
        print(f"{citation_line(c)}\n    «{c.quote}»")
    return 0


def citation_line(c) -> str:
    """``[n] Title, dd/mm/yyyy — address``: what the article is, never its file name
    (the address only for a web article)."""
    from assistant.web.ui_format import citation_title, format_date

    line = f"[{c.n}] {citation_title(c)}"
    if c.date:
        line += f", {format_date(c.date)}"
    if c.url:
        line += f" — {c.url}"
    return line


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.web.server import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def _cmd_report_gaps(args, settings: Settings) -> int:
    from assistant.web.gaps import export, render, report

    gaps = report(settings)
    if args.export:
        n = export(gaps, Path(args.export))
        print(f"Đã ghi {n} nhóm câu hỏi vào {args.export}", file=sys.stderr)
    if args.json:
        from assistant.web.terminal import json_for_terminal

        text = json.dumps({"groups": [g.to_json() for g in gaps]}, ensure_ascii=False, indent=2)
        print(json_for_terminal(text))
    else:
        print(render(gaps))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hoidap", description="Hỏi đáp có trích dẫn trên các bài báo tiếng Việt.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "index",
        help="index articles (default: seeds/)",
        epilog="exit status: 0 all indexed, 3 some inputs skipped (named on stderr), "
        "1 nothing could be indexed",
    )
    p.add_argument(
        "paths",
        nargs="*",
        help="files or folders (.txt, .md, .html, .pdf, .docx) or web addresses "
        "(a page, a sitemap.xml, an RSS/Atom feed)",
    )
    p.add_argument(
        "--prune",
        action="store_true",
        help="remove articles of files that are gone or that left the sitemap/feed",
    )
    p.add_argument("--rebuild", action="store_true", help="drop the collection and start over")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("ask", help="ask one question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--history", help="JSON file with earlier turns [{role, content}]")
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("serve", help="start the chat UI and HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("report", help="reports for editors")
    reports = p.add_subparsers(dest="report", required=True, parser_class=_Parser)
    g = reports.add_parser("gaps", help="questions the assistant could not answer, grouped")
    g.add_argument("--json", action="store_true", help="print the groups as JSON")
    g.add_argument("--export", metavar="FILE", help="write the groups as QA JSONL eval cases")
    g.set_defaults(func=_cmd_report_gaps)

    for register in _optional_commands():
        register(sub)
    return parser


def _optional_commands():
    """Subcommands that live with their feature (eval harness, API keys)."""
    import importlib
    import importlib.util

    out = []
    for module in ("evals.cli", "assistant.web.api.cli"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # the parent package (e.g. assistant.web.api) is absent
            found = False
        if found:
            out.append(importlib.import_module(module).register)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        settings = Settings.load()
        return int(args.func(args, settings) or 0)
    except HoidapError as exc:
        print(f"hoidap: {exc.message_vi}\n  ({exc.code}: {exc.message_en})", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
