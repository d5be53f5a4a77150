"""Turn a scraped Vietnamese news page into the article text and its metadata.

Scraped pages carry site furniture around the article: related-link blocks with
dated teasers, portal footers and surveys, broadcast-schedule links, audio
placeholders, image captions and repeated titles. The rules here are general
(they describe how Vietnamese news portals lay pages out), not strings fitted to
particular files. Each dropped line is recorded with the rule that dropped it so
tests (tests/test_clean.py) can show what was kept and what was not.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from index.markup import html_to_text, looks_like_html, to_plain_text  # noqa: F401 (re-exported)
from index.normalize import match_form, nfc
from index.types import Article

if TYPE_CHECKING:
    from index.sources.base import Document

# --- dates ---------------------------------------------------------------
_WEEKDAY = r"(?:thứ\s*(?:hai|ba|tư|năm|sáu|bảy|[2-7])|chủ\s*nhật|cn)"
_DATE = r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})"
_TIME = r"\d{1,2}[:h]\d{2}(?::\d{2})?\s*(?:am|pm|sa|ch)?"
_TZ = r"(?:[\[(]?\s*(?:gmt|utc)\s*[+-]\s*\d+\s*[\])]?)"
# A line that is only a date stamp: "Thứ 3, 30/11/2021 | 22:47", "09/05/2023 10:44 AM",
# "Thứ Tư, 01/12/2021, 14:51 [GMT+7]", "30/11/2021 - 22:47", "Cập nhật: 30/11/2021",
# "Thứ hai, 30/11/2021, 22:47 (GMT+7)", "22:47 30/11/2021", "2021-11-30 22:47".
DATE_LINE_RE = re.compile(
    rf"^\s*(?P<label>(?:cập nhật|ngày đăng|đăng lúc|đăng ngày|ngày)\s*:?\s*)?"
    rf"(?:(?P<tpre>{_TIME})\s*[,|\-–]?\s*)?(?:{_WEEKDAY}\s*,?\s*)?(?:ngày\s*)?"
    rf"(?:{_DATE}|(?P<iy>\d{{4}})-(?P<im>\d{{1,2}})-(?P<id>\d{{1,2}}))"
    rf"(?:\s*[,|\-–T]?\s*(?P<time>{_TIME}))?\s*{_TZ}?\s*$",
    re.IGNORECASE,
)

# An official document's dateline: "Hà Nội, ngày 04 tháng 12 năm 2026".
DATELINE_RE = re.compile(
    r"^\s*(?:[^\d,]{2,40},\s*)?ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})\s*\.?\s*$",
    re.IGNORECASE,
)
# A lead that opens with the full date: "Ngày 04/12/2026, Sở ..." / "Sáng 04/12/2026, ...".
DATED_LEAD_RE = re.compile(
    r"^\s*(?:(?:sáng|trưa|chiều|tối|đêm)\s+)?(?:ngày\s+)?(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*,",
    re.IGNORECASE,
)

# --- furniture -----------------------------------------------------------
# Headings of related-link blocks; everything after such a heading near the end
# of a page is navigation, not article.
RELATED_HEADING_RE = re.compile(
    r"^\s*(?:cùng\s+(?:tác\s+giả|chuyên\s+mục)|tin\s+(?:liên\s+quan|cùng\s+chuyên\s+mục|khác|mới(?:\s+nhất)?|đọc\s+nhiều)"
    r"|bài\s+(?:viết\s+)?(?:liên\s+quan|khác|cùng\s+chuyên\s+mục)|các\s+tin\s+(?:khác|đã\s+đưa)"
    r"|nổi\s+bật(?:\s+trong\s+ngày)?|xem\s+thêm|đọc\s+thêm|có\s+thể\s+bạn\s+quan\s+tâm"
    r"|đọc\s+nhiều(?:\s+nhất)?|tin\s+tức\s+khác)\s*:?\s*$",
    re.IGNORECASE,
)
# Whole lines that are page chrome on Vietnamese portals.
BOILERPLATE_RES = [
    (re.compile(r"^\s*xem\s+lịch\s+phát\s+sóng", re.I), "broadcast schedule link"),
    (re.compile(r"chưa\s+được\s+cập\s+nhật\s+nội\s+dung\s+âm\s+thanh", re.I), "audio placeholder"),
    (re.compile(r"^\s*(?:nghe|đọc)\s+(?:bài|tin)(?:\s+viết)?\s*$", re.I), "audio placeholder"),
    (
        re.compile(
            r"^\s*bạn\s+(?:có\s+(?:hài\s+lòng|thể\s+cho\s+biết|muốn)|đánh\s+giá)\b.*\?\s*$", re.I
        ),
        "reader survey",
    ),
    (
        re.compile(
            r"^\s*(?:chi\s+tiết|xem\s+tiếp|đọc\s+tiếp|xem\s+thêm)\s*(?:>>|»|›|\.\.\.)?\s*$", re.I
        ),
        "more link",
    ),
    (re.compile(r"^\s*\((?:còn\s+nữa|tiếp\s+theo|hết)\)\s*$", re.I), "series marker"),
    (
        re.compile(r"^\s*(?:chia\s+sẻ|in\s+bài|gửi\s+bài|bình\s+luận|lượt\s+xem)\b.{0,30}$", re.I),
        "share bar",
    ),
    (re.compile(r"^\s*[\w.-]+\.(?:vn|com|net|org|gov\.vn)\s*$", re.I), "site name"),
    (re.compile(r"^[\W\d_]{0,6}$"), "stray characters"),
]
# A truncated teaser link: short line ending in an ellipsis.
TEASER_LINK_RE = re.compile(r"^.{5,120}(?:\.\.\.|…)\s*$")
# Image captions. A figure-numbered caption or one that repeats the title is furniture;
# a descriptive caption with a photo credit is kept as text, minus the credit.
CAPTION_RES = [
    re.compile(r"\((?:hình|ảnh)\s*\d+\)\s*\.?\s*$", re.I),
    re.compile(r"^\s*(?:ảnh|hình)\s*(?:minh\s+h(?:ọa|oạ)|\d+)\s*[:.]", re.I),
]
PHOTO_CREDIT_RE = re.compile(r"\s*[-–(]\s*ảnh\s*:\s*[^)]{1,60}\)?\s*\.?\s*$", re.I)
# Authorship lines.
SOURCE_LINE_RE = re.compile(
    r"^\s*\(?\s*(?:theo|nguồn)\s*:?\s+([\w.\- ]{2,40}?)\s*\)?\s*\.?\s*$", re.I
)
BYLINE_RE = re.compile(
    r"^\s*(?:(?:bài|tin)\s*(?:và|,|&|\+)\s*ảnh|bài|tin|ảnh|pv|nhóm\s+pv|tác\s+giả)\s*:\s*(.{2,60}?)\s*\.?\s*$",
    re.I,
)
PHOTO_ONLY_RE = re.compile(r"^\s*ảnh\s*:", re.I)  # a photo credit names no author
_UPPER = "A-ZĐÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴ"
# "Điện Biên TV - Chiều 30/11, ...", "(Chinhphu.vn) - Sáng 19/7", "TTXVN - ": an outlet
# name leading the lead paragraph.
OUTLET_LEAD_RE = re.compile(
    rf"^\(?((?:[{_UPPER}][\wÀ-ỹ.]*\s){{0,4}}[{_UPPER}\w.]*?"
    r"(?:TV|TTXVN|VTV|VOV|Online|\.vn|\.VN|\.com|\.net))\)?\s*[-–]\s+",
    re.U,
)
# A personal-name byline line near the top: 2-5 capitalised syllables, nothing else.
NAME_LINE_RE = re.compile(rf"^(?:[{_UPPER}][a-zà-ỹđ]+\s){{1,4}}[{_UPPER}][a-zà-ỹđ]+$", re.U)


@dataclass
class CleanReport:
    """What cleaning kept and dropped, with the rule that dropped each line."""

    kept: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (line, rule)


def parse_date(line: str) -> str | None:
    """ISO date of a date-stamp line, or None when the line is not one."""
    m = DATE_LINE_RE.match(line.strip())
    if not m:
        return None
    if m.group("iy"):
        year, month, day = int(m.group("iy")), int(m.group("im")), int(m.group("id"))
    else:
        day, month, year = (int(g) for g in m.groups()[2:5])
    return _valid_date(year, month, day)


def _valid_date(year: int, month: int, day: int) -> str | None:
    try:
        stated = datetime.date(year, month, day)  # rejects 31/02 as well as 13/13
    except ValueError:
        return None
    return stated.isoformat() if 1900 < year < 2200 else None


def find_stated_date(lines: list[str]) -> str | None:
    """The first date the opening lines state: a date-stamp line, an official dateline
    ("Hà Nội, ngày 4 tháng 12 năm 2026") or a lead that opens with a full date. Used by
    readers of documents whose file dates say when the file was made, not published."""
    for line in lines:
        if iso := parse_date(line):
            return iso
        for rx in (DATELINE_RE, DATED_LEAD_RE):
            if m := rx.match(line):
                day, month, year = (int(g) for g in m.groups())
                if iso := _valid_date(year, month, day):
                    return iso
    return None


def _is_caption(line: str, key: str, title_key: str) -> bool:
    """``key`` is the line's match form (the caller has it already)."""
    if any(rx.search(line) for rx in CAPTION_RES):
        return True
    # A short line that repeats the title with a prefix ("Tiêu điểm - <title>").
    return bool(title_key) and title_key in key and len(key) < len(title_key) + 40


def clean_article(
    raw: str, source: str, raw_bytes: bytes | None = None
) -> tuple[Article, CleanReport]:
    """Extract title, date, author and article body from a scraped page."""
    text, hints = to_plain_text(raw, source)
    data = raw_bytes if raw_bytes is not None else raw.encode("utf-8")
    return clean_text(text, source, hints, data)


def clean_document(doc: Document) -> tuple[Article, CleanReport]:
    """The article in a source reader's document: its stated metadata beats the text's."""
    return clean_text(doc.text, doc.source, doc.hints(), doc.data)


def clean_text(
    text: str, source: str, hints: dict[str, str], data: bytes
) -> tuple[Article, CleanReport]:
    """Title (line one), date, author and body of an article's plain text."""
    text = nfc(text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " "))
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in text.split("\n")]
    content = [ln for ln in lines if ln]
    if not content:
        return Article(source, "", None, None, "", _hash(data)), CleanReport()
    if content[0].startswith("#"):  # markdown heading
        content[0] = content[0].lstrip("#").strip()
    cleaner = _Cleaner(content, hints)
    cleaner.run()
    article = Article(
        source=source,
        title=cleaner.title,
        date=hints.get("date") or cleaner.date,
        author=hints.get("author") or cleaner.author,
        body="\n".join(cleaner.body),
        content_hash=_hash(data),
    )
    return article, cleaner.report


class _Cleaner:
    """One pass over an article's lines: each is kept, or dropped with the rule that
    dropped it; date and author lines become metadata."""

    def __init__(self, content: list[str], hints: dict[str, str]):
        self.content, self.n = content, len(content)
        self.title = content[0]
        self.title_key = match_form(self.title)
        self.stated_author = match_form(hints["author"]) if hints.get("author") else None
        self.date: str | None = None
        self.author: str | None = None
        self.body: list[str] = []
        self.seen: set[str] = set()
        self.report = CleanReport(kept=[self.title])
        # Where the article ends: the first related-links heading (or the page end). A source
        # line ("Theo TTXVN") is metadata only near that end, however long the furniture after.
        self.end = next(
            (k for k in range(2, self.n) if RELATED_HEADING_RE.match(content[k])), self.n
        )

    def run(self) -> None:
        i = 1
        while i < self.n:
            line = self.content[i]
            head_zone = i < 6 and len(self.body) < 2
            # Related-link heading in the lower part of the page: the rest is navigation.
            if RELATED_HEADING_RE.match(line) and self.body:
                self.report.dropped.extend((ln, "related-links block") for ln in self.content[i:])
                return
            iso = parse_date(line)
            if iso is not None:
                i += self._date_line(i, line, iso, head_zone)
                continue
            key = match_form(line)
            rule = self._furniture(i, line, key, head_zone)
            if rule is None:
                self._keep(line, key, head_zone)
            else:
                self.report.dropped.append((line, rule))
            i += 1

    def _date_line(self, i: int, line: str, iso: str, head_zone: bool) -> int:
        """Handle a date-stamp line; returns how many lines it consumed."""
        stamp = DATE_LINE_RE.match(line.strip())
        if self.date is None and head_zone:
            self.date = iso
            self.report.dropped.append((line, "publication date (metadata)"))
            return 1
        if not (stamp.group("time") or stamp.group("tpre")):
            # A bare date inside the text is a timeline entry (kept); a labelled one
            # ("Cập nhật: ...") is a stamp. Neither takes its neighbours along.
            label = (stamp.group("label") or "").lower().strip(" :")
            if label and label != "ngày":
                self.report.dropped.append((line, "date stamp"))
            else:
                self.body.append(line)
                self.report.kept.append(line)
            return 1
        # A dated teaser (portals stamp teasers with a time): title line before, summary after.
        previous = self.content[i - 1]
        if self.body and self.body[-1] == previous and len(previous) < 200:
            self.report.kept.remove(self.body[-1])
            self.report.dropped.append((self.body.pop(), "teaser title"))
        self.report.dropped.append((line, "teaser date"))
        if i + 1 < self.n:
            self.report.dropped.append((self.content[i + 1], "teaser summary"))
        return 2

    def _furniture(self, i: int, line: str, key: str, head_zone: bool) -> str | None:
        """The rule that makes this line furniture (noting metadata it states), or None."""
        if key == self.title_key:
            return "repeated title"
        if key == self.stated_author:
            return "author name (metadata)"
        for rx, rule in BOILERPLATE_RES:
            if rx.search(line):
                return rule
        if TEASER_LINK_RE.match(line) and len(line) < 120:
            return "truncated teaser link"
        if _is_caption(line, key, self.title_key):
            return "image caption"
        if PHOTO_CREDIT_RE.search(line) and len(PHOTO_CREDIT_RE.sub("", line)) < 25:
            return "photo credit"
        if (m := SOURCE_LINE_RE.match(line)) and i >= self.end - 12:
            self.author = self.author or m.group(1).strip()
            return "source line (metadata)"
        if m := BYLINE_RE.match(line):
            if not PHOTO_ONLY_RE.match(line):
                self.author = self.author or m.group(1).strip()
            return "byline (metadata)"
        if head_zone and NAME_LINE_RE.match(line):
            self.author = self.author or line
            return "author name (metadata)"
        if key in self.seen and len(line) > 20:
            return "duplicated paragraph"
        if len(line) < 80 and i + 1 < self.n and TEASER_LINK_RE.match(line):
            return "truncated teaser link"
        return None

    def _keep(self, line: str, key: str, head_zone: bool) -> None:
        if m := PHOTO_CREDIT_RE.search(line):
            self.report.dropped.append((m.group(0).strip(), "photo credit"))
            line = PHOTO_CREDIT_RE.sub("", line).rstrip()
            line = line if line.endswith(".") else line + "."
        if (m := OUTLET_LEAD_RE.match(line)) and head_zone:
            self.author = self.author or m.group(1).strip()
        self.body.append(line)
        self.report.kept.append(line)
        self.seen.add(key)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
