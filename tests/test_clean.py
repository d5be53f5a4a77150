"""Cleaning scraped pages: what is kept, what is dropped (and by which rule), and metadata.

The seed pages are real scrapes; tests/data/pages/ holds synthetic pages written for
these tests with the same *kinds* of furniture in other words and layouts (.txt, .md,
.html), so the rules are shown to be general rather than fitted to five files.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from index.clean import clean_article, html_to_text, parse_date
from index.markup import markdown_page
from index.normalize import match_form

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
PAGES = Path(__file__).resolve().parent / "data" / "pages"


def _clean(path: Path):
    raw = path.read_bytes()
    return clean_article(raw.decode("utf-8"), path.name, raw)


def _rules(report) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line, rule in report.dropped:
        out.setdefault(rule, set()).add(line)
    return out


# -- metadata ---------------------------------------------------------------------------
SEED_META = [
    (
        "000_9413930f2d315b59.txt",
        "Thúc đẩy chuyển đối số gắn với trách nhiệm của người đứng đầu",
        "2021-11-30",
        "Lê Mạnh Quốc",
    ),
    (
        "001_c7e9e54a34adfa75.txt",
        "Phó Thủ tướng Trần Hồng Hà: Đề án 06 tạo đột phá trong chuyển đổi số quốc gia",
        "2023-05-09",
        "Chinhphu.vn",
    ),
    (
        "002_941e591e9744dfef.txt",
        "Thủ tướng: Chuyển đổi số phải có tư duy đột phá, tầm nhìn chiến lược",
        "2021-12-01",
        "Điện Biên TV",
    ),
    (
        "003_c628b9b81e0be3d7.txt",
        "Chuyển đổi số đã 'đi từng ngõ, gõ từng nhà, đến từng người'",
        None,
        None,
    ),
    (
        "004_f3d8c4cbb43199e1.txt",
        "Những kết quả bước đầu trong thực hiện chuyển đổi số (kỳ 1)",
        None,
        "Thanh Thúy",
    ),
]
PAGE_META = [
    (
        "nong-nghiep-so.txt",
        "Lâm Đồng đưa nông sản lên sàn thương mại điện tử",
        "2023-03-12",
        "Đỗ Ánh Tuyết",
    ),
    ("giao-duc-so.md", "Hà Nội số hoá học bạ cho học sinh tiểu học", "2023-03-06", "Minh Châu"),
    (
        "y-te-so.html",
        "Bệnh viện tuyến tỉnh triển khai bệnh án điện tử",
        "2023-07-19",
        "Chinhphu.vn",
    ),
    ("thue-dien-tu.txt", "Quảng Ninh cấp chữ ký số miễn phí cho hộ kinh doanh", None, None),
]


@pytest.mark.parametrize(("name", "title", "date", "author"), SEED_META + PAGE_META)
def test_title_date_author_and_source(name: str, title: str, date, author) -> None:
    path = SEEDS / name if (SEEDS / name).exists() else PAGES / name
    article, _ = _clean(path)
    assert (article.title, article.date, article.author, article.source) == (
        title,
        date,
        author,
        name,
    )
    assert len(article.content_hash) == 64
    assert article.body and title not in article.body.split("\n")


def test_content_hash_is_of_the_raw_bytes() -> None:
    import hashlib

    path = SEEDS / SEED_META[0][0]
    article, _ = _clean(path)
    assert article.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("line", "iso"),
    [
        ("Thứ 3, 30/11/2021 | 22:47", "2021-11-30"),
        ("09/05/2023 10:44 AM", "2023-05-09"),
        ("Thứ Tư, 01/12/2021, 14:51 [GMT+7]", "2021-12-01"),
        ("Chủ nhật, 12/03/2023 - 08:15 (GMT+7)", "2023-03-12"),
        ("Thứ hai, ngày 6/3/2023", "2023-03-06"),
        ("Cập nhật: 19/07/2023 15:02", "2023-07-19"),
        ("15:02 19/07/2023", "2023-07-19"),
        ("2023-07-19T15:02", "2023-07-19"),
        ("CN, 07.11.2021", "2021-11-07"),
        ("31/02/2021", None),
        ("13/13/2021", None),
        ("Năm 2021", None),
        ("Chiều 30/11, tại trụ sở Chính phủ", None),
        ("Thứ hai, CĐS tác động tới tất cả cơ quan 30/11/2021", None),
    ],
)
def test_parse_date(line: str, iso) -> None:
    assert parse_date(line) == iso


# -- seeds: furniture out, article in ---------------------------------------------------
SEED_FURNITURE = {
    "000_9413930f2d315b59.txt": [
        "Cùng tác giả",
        "Cùng chuyên mục",
        "Nổi bật trong ngày",
        "Ôtô được phép chạy trên cao tốc",
        "Nhanh chóng mở cửa trường học",
        "Tiêu điểm -",
        "(Hình 2)",
        "5 nghề",
        "Theo CEO NextPay",
        "21/10/2021",
        "Lê Mạnh Quốc",
    ],
    "001_c7e9e54a34adfa75.txt": [
        "chưa được cập nhật nội dung Âm thanh",
        "Bạn có hài lòng",
        "Bạn có thể cho biết ý kiến",
        "BHXH Việt Nam tăng cường hợp tác",
        "Các ca khúc đạt giải",
        "Chi tiết >>",
        "Ảnh: VGP/Minh Khôi",
        "Theo Chinhphu.vn",
        "10:44 AM",
    ],
    "002_941e591e9744dfef.txt": ["DIENBIENTV.VN", "Xem lịch phát sóng", "[GMT+7]"],
    "003_c628b9b81e0be3d7.txt": [],
    "004_f3d8c4cbb43199e1.txt": ["(Còn nữa)", "Bài và ảnh"],
}
SEED_KEPT = {
    "000_9413930f2d315b59.txt": [
        "Chiều 30/11, tại trụ sở Chính phủ",
        "Chính quyền số mà không có công dân số thì cũng vô dụng",
        "Nghị định số 64/2007/NĐ-CP",
        "Trước đó, ngày 24/11, Thủ tướng Chính phủ đã ban hành Quyết định",
    ],
    "001_c7e9e54a34adfa75.txt": [
        "Đề án 06 phải đặt trong tổng thể chuyển đổi số quốc gia",
        "Ngô Hải Phan",
        "Bộ Tài chính đề xuất cơ chế mới về thuê dịch vụ công nghệ thông tin.",
    ],
    "002_941e591e9744dfef.txt": ["Điện Biên TV - Chiều 30/11", "bệnh thành tích"],
    "003_c628b9b81e0be3d7.txt": ["Sáng 19-7", "cao gấp 3,5 lần tốc độ tăng trưởng GDP"],
    "004_f3d8c4cbb43199e1.txt": ["Kỳ I: Dấu ấn phát huy vai trò", "Phạm Gia Túc"],
}


@pytest.mark.parametrize("name", sorted(SEED_FURNITURE))
def test_seed_furniture_is_dropped_and_article_kept(name: str) -> None:
    article, report = _clean(SEEDS / name)
    for furniture in SEED_FURNITURE[name]:
        assert furniture not in article.body, furniture
    for text in SEED_KEPT[name]:
        assert text in article.body, text
    kept_lines = [ln for ln in report.kept[1:]]
    assert kept_lines == article.body.split("\n")  # the report tells the truth


def test_seed_drop_rules_name_each_kind_of_furniture() -> None:
    rules = {}
    for name in SEED_FURNITURE:
        for rule, lines in _rules(_clean(SEEDS / name)[1]).items():
            rules.setdefault(rule, set()).update(lines)
    assert "Cùng tác giả" in rules["related-links block"]
    assert "Nổi bật trong ngày" in rules["related-links block"]
    assert "Thứ 5, 21/10/2021 | 19:11" in rules["teaser date"]
    assert '"Chuyển đổi số là quá trình, không phải đích đến"' in rules["teaser title"]
    assert any(ln.startswith("Tiêu điểm -") for ln in rules["image caption"])
    assert "Xem lịch phát sóng" in rules["broadcast schedule link"]
    assert (
        "Hiện tại bài viết chưa được cập nhật nội dung Âm thanh. Xin cảm ơn."
        in rules["audio placeholder"]
    )
    assert "BHXH Việt Nam tăng cường hợp tác quốc tế nâng cao ..." in rules["truncated teaser link"]
    assert any(ln.startswith("Bạn có hài lòng") for ln in rules["reader survey"])
    assert (
        "Thúc đẩy chuyển đối số gắn với trách nhiệm của người đứng đầu" in rules["repeated title"]
    )


def test_seed_typo_in_title_is_kept_for_display_but_matches_the_right_phrase() -> None:
    article, _ = _clean(SEEDS / SEED_META[0][0])
    assert "chuyển đối số" in article.title
    assert "chuyển đổi số" in match_form(article.title)


# -- synthetic pages: the same kinds of furniture, other words and formats ----------------
PAGE_FURNITURE = {
    "nong-nghiep-so.txt": {
        "repeated title": "Lâm Đồng đưa nông sản lên sàn thương mại điện tử",
        "author name (metadata)": "Đỗ Ánh Tuyết",
        "publication date (metadata)": "Chủ nhật, 12/03/2023 - 08:15 (GMT+7)",
        "audio placeholder": "Bài viết này chưa được cập nhật nội dung âm thanh.",
        "image caption": "Ảnh minh hoạ: Nông dân Đà Lạt thu hoạch rau trong nhà kính.",
        "duplicated paragraph": "Theo Sở Nông nghiệp và Phát triển nông thôn, tỉnh đã hỗ trợ 35 hợp tác xã",
        "source line (metadata)": "(Theo TTXVN)",
        "share bar": "Chia sẻ bài viết",
        "reader survey": "Bạn có hài lòng với bài viết này không?",
        "site name": "BAONONGNGHIEP.VN",
        "broadcast schedule link": "Xem lịch phát sóng",
        "related-links block": "Sơn La bán xoài qua livestream",
    },
    "giao-duc-so.md": {
        "publication date (metadata)": "Thứ Hai, 06/03/2023, 09:30 [GMT+7]",
        "image caption": "Hình 2: Giáo viên nhập điểm trên máy tính bảng.",
        "more link": "Đọc tiếp »",
        "byline (metadata)": "Bài, ảnh: Minh Châu",
        "reader survey": "Bạn có muốn nhận thông báo khi có tin mới?",
        "related-links block": "Cần Thơ số hóa hồ sơ tuyển sinh đầu cấp",
    },
    # The page's <time> stamp, share bar and related links never reach the cleaner: the
    # main-content extractor leaves them out (test_html_page_chrome_is_left_out).
    "y-te-so.html": {
        "audio placeholder": "Hiện tại bài viết chưa được cập nhật nội dung Âm thanh.",
        "reader survey": "Bạn có hài lòng với nội dung bài viết này?",
    },
    "thue-dien-tu.txt": {
        "more link": "Xem thêm >>",
        "truncated teaser link": "Hướng dẫn đăng ký tài khoản định danh điện ...",
        "reader survey": "Bạn có hài lòng với thông tin trên Cổng thông tin điện tử tỉnh?",
    },
}
PAGE_KEPT = {
    "nong-nghiep-so.txt": [
        "Năm 2022, hơn 1.200 hộ nông dân ở Lâm Đồng",
        "Ông Nguyễn Văn Bình, Phó Giám đốc Sở, cho biết",
        "Ngày 15/10/2022",  # a timeline date inside the text is content, not a teaser stamp
        "Uỷ ban nhân dân tỉnh ban hành kế hoạch chuyển đối số trong nông nghiệp",
        "Thuỷ lợi thông minh với cảm biến độ ẩm",
    ],
    "giao-duc-so.md": [
        "Sáng 6/3, Sở Giáo dục và Đào tạo Hà Nội cho biết",
        "dùng học bạ điện tử từ năm học 2022-2023",  # **bold** markers removed
        "lưu trên cơ sở dữ liệu ngành, giúp",  # link text kept, URL gone
        "Giảm giấy tờ cho giáo viên",  # a section heading, without its ##
        "với 98% phụ huynh",
        "“Học bạ điện tử giúp tôi theo dõi con học tập hằng tuần”",
    ],
    "y-te-so.html": [
        "(Chinhphu.vn) - Sáng 19/7, Bộ Y tế cho biết đã có 56 bệnh viện",  # one line per <p>
        "chuyển viện và giảm thời gian chờ",  # &nbsp; is a plain space
        "Kết nối dữ liệu với bảo hiểm y tế",
        "Quyết định số 1234/QĐ-BYT",
        "Trung ương | 12 bệnh viện",
    ],
    "thue-dien-tu.txt": [
        "Hơn 3.000 hộ kinh doanh tại Quảng Ninh",
        "từ 3 ngày xuống còn 4 giờ",
        "tài khoản định danh điện tử mức 2.",
    ],
}
PAGE_NEVER = {
    "giao-duc-so.md": [
        "https://",
        "](",
        "**",
        "##",
        "Học sinh tiểu học tại Hà Nội",
        "TP.HCM thí điểm",
    ],
    "y-te-so.html": [
        "<",
        "dataLayer",
        "Trang chủ",
        "Cổng thông tin Sức khỏe",
        "Bác sĩ tra cứu hồ sơ bệnh nhân",  # <figure> caption
        "Hà Nội cấp sổ sức khỏe điện tử",  # <aside>
        "Bản quyền",  # page <footer>
        "Xem lịch phát sóng",
        "\u00a0",
    ],
    "nong-nghiep-so.txt": ["Tiêu điểm -", "Đắk Lắk", "Đọc nhiều", "Giá cà phê"],
    "thue-dien-tu.txt": ["Lịch tiếp công dân", "giao diện Cổng thông tin"],
}


@pytest.mark.parametrize("name", sorted(PAGE_FURNITURE))
def test_synthetic_page_drops_each_kind_of_furniture_by_its_rule(name: str) -> None:
    article, report = _clean(PAGES / name)
    rules = _rules(report)
    for rule, line in PAGE_FURNITURE[name].items():
        assert any(dropped.startswith(line) for dropped in rules.get(rule, ())), (rule, line)
    for text in PAGE_KEPT[name]:
        assert text in article.body, text
    for text in PAGE_NEVER.get(name, []):
        assert text not in article.body, text
    assert report.kept[1:] == article.body.split("\n")


def test_duplicated_paragraph_is_kept_once() -> None:
    article, _ = _clean(PAGES / "nong-nghiep-so.txt")
    assert article.body.count("tỉnh đã hỗ trợ 35 hợp tác xã") == 1


def test_teaser_date_needs_a_time_stamp_and_takes_its_title_and_summary() -> None:
    page = "\n".join(
        [
            "Tiêu đề bài chính về chính quyền số",
            "Đoạn mở đầu của bài viết chính, đủ dài để là nội dung thật của bài báo.",
            "Đoạn thứ hai của bài viết chính cũng là nội dung cần giữ lại.",
            "Một bài khác được giới thiệu",
            "Thứ 6, 03/03/2023 | 10:00",
            "Tóm tắt của bài khác được giới thiệu.",
            "Ngày 05/03/2023",
            "Sự kiện trong dòng thời gian của bài chính vẫn là nội dung.",
        ]
    )
    article, report = clean_article(page, "teaser.txt")
    rules = _rules(report)
    assert rules["teaser title"] == {"Một bài khác được giới thiệu"}
    assert rules["teaser summary"] == {"Tóm tắt của bài khác được giới thiệu."}
    assert "Ngày 05/03/2023" in article.body
    assert "Sự kiện trong dòng thời gian" in article.body


def test_a_labelled_date_stamp_low_in_the_page_is_dropped_alone() -> None:
    paragraphs = [f"Đoạn {i} là nội dung thật của bài viết về dữ liệu số." for i in range(4)]
    page = "\n".join(["Tiêu đề", *paragraphs, "Cập nhật: 30/11/2021", "Đoạn cuối của bài."])
    article, report = clean_article(page, "x.txt")
    assert _rules(report)["date stamp"] == {"Cập nhật: 30/11/2021"}
    assert article.body.split("\n") == [*paragraphs, "Đoạn cuối của bài."]


def test_a_source_line_is_metadata_even_before_a_long_related_block() -> None:
    related = [f"Tin liên quan số {i} về một chủ đề khác hoàn toàn" for i in range(20)]
    page = "\n".join(
        [
            "Tiêu đề",
            "Nội dung chính của bài viết về chuyển đổi số.",
            "Theo VnExpress",
            "Tin liên quan",
        ]
        + related
    )
    article, _ = clean_article(page, "x.txt")
    assert article.author == "VnExpress"
    assert article.body == "Nội dung chính của bài viết về chuyển đổi số."


def test_photo_credit_is_not_taken_as_the_author() -> None:
    page = "Tiêu đề\nẢnh: Thông tấn xã\nNội dung chính của bài viết.\nBài: Trần Văn Nam"
    article, _ = clean_article(page, "x.txt")
    assert article.author == "Trần Văn Nam"
    assert article.body == "Nội dung chính của bài viết."


def test_mixed_nfc_nfd_page_is_cleaned_as_nfc() -> None:
    nfd = unicodedata.normalize(
        "NFD", "Thứ Tư, 01/12/2021, 14:51 [GMT+7]\nBạn có hài lòng với bài viết?"
    )
    page = "Tiêu đề bài\n" + nfd + "\n" + unicodedata.normalize("NFD", "Nội dung về chuyển đổi số.")
    article, _ = clean_article(page, "mixed.txt")
    assert article.date == "2021-12-01"
    assert article.body == "Nội dung về chuyển đổi số."  # NFC, and the survey dropped
    assert article.body == unicodedata.normalize("NFC", article.body)


def test_empty_page_gives_an_empty_article() -> None:
    article, report = clean_article("\n \n", "rong.txt")
    assert (article.title, article.body) == ("", "")
    assert report.kept == []


# -- HTML and Markdown -------------------------------------------------------------------
def test_html_blocks_become_lines_with_whitespace_collapsed() -> None:
    html = "<div><p>Một\n   đoạn&nbsp;văn</p><ul><li>mục&#32;một</li><li>mục hai</li></ul></div>"
    assert html_to_text(html).split("\n") == ["Một đoạn văn", "mục một", "mục hai"]


def test_html_title_prefers_the_article_h1_over_the_site_logo_and_title_tag() -> None:
    html = (
        "<html><head><title>Tin | Báo X</title></head><body><header><h1>Báo X</h1></header>"
        "<article><h1>Tiêu đề thật</h1><p>Nội dung.</p></article></body></html>"
    )
    assert html_to_text(html).split("\n") == ["Tiêu đề thật", "Nội dung."]


def test_html_without_h1_takes_the_title_tag_minus_the_site_name() -> None:
    html = "<html><head><title>Tiêu đề bài | Báo X</title><body><p>Nội dung.</p></body></html>"
    assert html_to_text(html).split("\n") == ["Tiêu đề bài", "Nội dung."]


def test_html_chrome_outside_the_article_is_dropped() -> None:
    html = (
        "<body><nav>Menu</nav><header>Đầu trang</header><main><p>Bài.</p>"
        "<script>var x = 'mã';</script><style>p{}</style><aside>Quảng cáo</aside>"
        "<figure><img src=a><figcaption>Chú thích</figcaption></figure></main>"
        "<footer>Chân trang</footer></body>"
    )
    assert html_to_text(html) == "Bài."


def test_html_meta_tags_give_date_and_author() -> None:
    raw = (
        '<html><head><meta property="article:published_time" content="2022-04-05T08:00:00+07:00">'
        '<meta name="author" content="Nguyễn Hà"></head><body><h1>Tiêu đề</h1>'
        "<p>Nội dung bài viết không có dòng ngày tháng.</p></body></html>"
    )
    article, _ = clean_article(raw, "bai.html")
    assert (article.title, article.date, article.author) == ("Tiêu đề", "2022-04-05", "Nguyễn Hà")


def test_html_saved_as_txt_is_recognised() -> None:
    article, _ = clean_article(
        "<html><body><h1>Tiêu đề</h1><p>Nội dung.</p></body></html>", "a.txt"
    )
    assert (article.title, article.body) == ("Tiêu đề", "Nội dung.")


def test_markdown_front_matter_gives_metadata() -> None:
    text, hints = markdown_page(
        '---\ntitle: "Tiêu đề từ front matter"\ndate: 2022-03-04\nauthor: Trần B\n---\n\nNội dung.\n'
    )
    assert hints == {"title": "Tiêu đề từ front matter", "date": "2022-03-04", "author": "Trần B"}
    article, _ = clean_article(
        '---\ntitle: "Tiêu đề từ front matter"\ndate: 2022-03-04\nauthor: Trần B\n---\n\nNội dung.\n',
        "fm.md",
    )
    assert (article.title, article.date, article.author, article.body) == (
        "Tiêu đề từ front matter",
        "2022-03-04",
        "Trần B",
        "Nội dung.",
    )
    assert text.split("\n")[0] == "Tiêu đề từ front matter"


def test_markdown_syntax_is_removed_but_words_kept() -> None:
    text, _ = markdown_page(
        "## Mục *một*\n\n> Trích **dẫn** với `mã` và [liên kết](http://a.vn)\n\n"
        "* điểm một\n- điểm hai\n\n![Ảnh: chú thích](a.jpg)\n\n[1]: http://a.vn\n\n***\n"
        "tên_biến_snake giữ nguyên"
    )
    lines = [ln for ln in text.split("\n") if ln]
    assert lines == [
        "Mục một",
        "Trích dẫn với mã và liên kết",
        "điểm một",
        "điểm hai",
        "tên_biến_snake giữ nguyên",
    ]


# -- end to end: what reaches the index and the answers -----------------------------------
ALL_FURNITURE = sorted({f for fs in SEED_FURNITURE.values() for f in fs} - {"Lê Mạnh Quốc"})


@pytest.mark.slow
def test_no_stored_seed_chunk_contains_furniture(seed_settings) -> None:
    from index.embedders import get_embedder
    from index.store import ChunkStore

    store = ChunkStore(seed_settings, get_embedder(seed_settings.embedder).identity)
    chunks = store.all_chunks()
    assert len({c.source for c in chunks}) == 5
    for chunk in chunks:
        for furniture in ALL_FURNITURE:
            assert furniture not in chunk.text, (chunk.source, furniture)


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "Ôtô được phép chạy trên cao tốc Cao Bồ - Mai Sơn từ khi nào?",
        "BHXH Việt Nam tăng cường hợp tác quốc tế như thế nào?",
        "Bạn có hài lòng với nội dung thông tin cung cấp trên Cổng thông tin BHXH Việt Nam?",
        "Xem lịch phát sóng Điện Biên TV ở đâu?",
    ],
)
def test_answers_never_cite_furniture(seed_assistant, question: str) -> None:
    answer = seed_assistant.ask(question)
    cited = " ".join(f"{c.text} {c.quote} {c.title}" for c in answer.citations)
    for furniture in ALL_FURNITURE + ["Cao Bồ", "BHXH Việt Nam tăng cường", "Xem lịch phát sóng"]:
        assert furniture not in cited, furniture
