"""`hoidap index` as a user runs it: the real console script in a subprocess."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import unicodedata
from pathlib import Path

import pytest

from index.config import Settings
from index.store import ChunkStore

ROOT = Path(__file__).resolve().parents[1]
HOIDAP = ROOT / ".venv" / "bin" / "hoidap"
PAGES = Path(__file__).resolve().parent / "data" / "pages"
# files, pages; articles new, changed, unchanged, removed; [skipped]; chunks, embedded, deleted
SUMMARY_RE = re.compile(
    r"^Lần này đã đọc (\d+) tệp, (\d+) trang web: bài mới (\d+), đã đổi (\d+), "
    r"không đổi (\d+), đã xóa (\d+)(?:; bỏ qua (\d+))?\. "
    r"Kho có (\d+) đoạn \(nhúng mới (\d+), xóa (\d+)\), \d+\.\d giây\.$"
)


def _summary(stdout: str) -> tuple[int, ...]:
    m = SUMMARY_RE.match(stdout.strip())
    assert m, stdout
    return tuple(int(g or 0) for g in m.groups())


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOIDAP_")}
    env.update({"HOIDAP_HOME": str(home), "HOIDAP_EMBEDDER": "fake", **extra})
    return env


def hoidap(home: Path, *args: str, cwd: Path = ROOT, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HOIDAP), "index", *args],
        cwd=cwd,
        env=_env(home, **extra),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_summary_line_then_nothing_new(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = hoidap(home, str(PAGES))
    assert first.returncode == 0, first.stderr
    # Not a terminal (make run's log, CI): progress is reported as plain lines, on stderr only.
    assert (
        "Lập chỉ mục: 100%" in first.stderr
        and "\r" not in first.stderr.rstrip("\n").split("\n")[-1]
    )
    files, pages, new, changed, unchanged, removed, skipped, chunks, embedded, deleted = _summary(
        first.stdout
    )
    assert (files, pages, new, changed, unchanged, removed, skipped) == (4, 0, 4, 0, 0, 0, 0)
    assert embedded == chunks > 0 and deleted == 0
    second = hoidap(home, str(PAGES))
    # The counts are this run's: nothing read was new, nothing embedded.
    assert _summary(second.stdout) == (4, 0, 0, 0, 4, 0, 0, chunks, 0, 0)


def test_json_summary_fields(tmp_path: Path) -> None:
    result = hoidap(tmp_path / "home", str(PAGES), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["files"] == 4 and summary["errors"] == []
    assert summary["chunks"] == summary["new"] > 0
    assert (summary["unchanged"], summary["removed"]) == (0, 0)
    assert isinstance(summary["seconds"], float) and summary["seconds"] > 0
    assert summary["embedder"] == "fake:hashing-256"
    assert summary["store"] == str(tmp_path / "home" / "chroma")


def test_default_path_is_seeds(tmp_path: Path) -> None:
    result = hoidap(tmp_path / "home", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files"] == 5


def test_prune_and_rebuild_flags(tmp_path: Path) -> None:
    home = tmp_path / "home"
    corpus = tmp_path / "corpus"
    shutil.copytree(PAGES, corpus)
    first = json.loads(hoidap(home, str(corpus), "--json").stdout)
    (corpus / "thue-dien-tu.txt").unlink()
    pruned = json.loads(hoidap(home, str(corpus), "--prune", "--json").stdout)
    assert pruned["removed"] > 0 and pruned["chunks"] == first["chunks"] - pruned["removed"]
    rebuilt = json.loads(hoidap(home, str(corpus), "--rebuild", "--json").stdout)
    assert rebuilt["new"] == rebuilt["chunks"] == pruned["chunks"]


@pytest.mark.slow
def test_bad_inputs_are_named_and_the_good_files_still_index(tmp_path: Path) -> None:
    folder = tmp_path / "input"
    shutil.copytree(PAGES, folder)
    (folder / "rong.txt").write_bytes(b"")
    (folder / "nhi-phan.md").write_bytes(bytes(range(256)) * 64)
    with (folder / "khong-lo.txt").open("wb") as fh:  # 50 MB of real text
        block = ("Chuyển đổi số là quá trình, không phải đích đến. " * 200 + "\n").encode()
        for _ in range(50 * 1024 * 1024 // len(block) + 1):
            fh.write(block)
    mixed = "Bài viết có chữ tổ hợp\n\n" + unicodedata.normalize(
        "NFD", "Nội dung về chuyển đổi số ở Hà Giang được viết bằng dạng tổ hợp."
    )
    (folder / "nfd.txt").write_text(mixed, encoding="utf-8")
    home = tmp_path / "home"

    result = hoidap(home, str(folder))
    _no_traceback(result)
    assert result.returncode == 3  # some files indexed, some skipped: the status says so
    counts = _summary(result.stdout)
    assert counts[0] == 5 and counts[6] == 3  # 5 files read, 3 skipped
    lines = [ln for ln in result.stderr.strip().split("\n") if not ln.startswith("Lập chỉ mục:")]
    assert len(lines) == 3  # one per bad input, besides the progress lines
    for name, why in [
        ("rong.txt", "file is empty"),
        ("nhi-phan.md", "binary"),
        ("khong-lo.txt", "MB limit"),
    ]:
        line = next(ln for ln in lines if name in ln)
        assert line.startswith("bỏ qua / skipped: ") and str(folder / name) in line and why in line
    assert "50.0 MB" in next(ln for ln in lines if "khong-lo" in ln)

    store = ChunkStore(Settings.load(env={"HOIDAP_HOME": str(home)}), "fake:hashing-256")
    chunks = store.all_chunks()
    assert {c.source for c in chunks} == {p.name for p in PAGES.iterdir()} | {"nfd.txt"}
    nfd_text = next(c.text for c in chunks if c.source == "nfd.txt")
    assert nfd_text == unicodedata.normalize("NFC", nfd_text) and "chuyển đổi số" in nfd_text

    again = hoidap(home, str(folder), "--json")
    as_json = json.loads(again.stdout)
    assert again.returncode == 3
    assert as_json["new"] == 0 and len(as_json["errors"]) == 3  # nothing lost, same report


def test_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "khong-co-thu-muc"
    result = hoidap(tmp_path / "home", str(missing))
    _no_traceback(result)
    assert result.returncode == 1
    errors = [ln for ln in result.stderr.split("\n") if ln]
    assert errors == [
        f"bỏ qua / skipped: {missing}: không có tệp hay thư mục này "
        "(no such file or folder; check the path)"
    ]


def test_only_bad_files_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "rong.txt").write_bytes(b"")
    result = hoidap(tmp_path / "home", str(tmp_path / "rong.txt"), "--json")
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["files"] == 0 and "file is empty" in summary["errors"][0]


def test_another_embedder_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert hoidap(home, str(PAGES)).returncode == 0
    result = hoidap(home, str(PAGES), HOIDAP_EMBEDDER="fake:64")
    _no_traceback(result)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("hoidap: Bộ sưu tập 'hoidap' được tạo bằng bộ nhúng")
    assert "embedder_mismatch" in result.stderr
    assert "fake:hashing-256" in result.stderr and "fake:hashing-64" in result.stderr
    assert "--rebuild" in result.stderr
    again = hoidap(home, str(PAGES), "--json")  # the original embedder still works
    assert json.loads(again.stdout)["new"] == 0


def test_a_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = hoidap(tmp_path / "home", str(PAGES), HOIDAP_MAX_FILE_MB="nhiều")
    _no_traceback(result)
    assert result.returncode == 1
    assert "max_file_mb" in result.stderr and "config_error" in result.stderr


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """With stderr on a terminal, a tqdm bar shows indexing progress over the files."""
    leader, follower = pty.openpty()
    # A fresh pty is 0x0 characters, where tqdm draws an empty bar: give it a real size.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [str(HOIDAP), "index", str(PAGES)],
        cwd=ROOT,
        env=_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    try:
        while True:  # read while the child runs: Linux drops pty data once it exits
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:
                    break
                if not data:
                    break
                output += data
            elif proc.poll() is not None:
                break
        stdout = proc.communicate(timeout=180)[0].decode()
    finally:
        os.close(leader)
    assert proc.returncode == 0
    bar = output.decode("utf-8", "replace")
    assert re.search(r"Lập chỉ mục: +\d+%\|.*\| \d+/\d+ \[", bar), bar
    assert _summary(stdout)[0] == 4


@pytest.mark.slow
def test_rerun_over_the_real_seed_index_embeds_nothing(seed_settings) -> None:
    result = subprocess.run(
        [str(HOIDAP), "index", "seeds", "--json"],
        cwd=ROOT,
        env=_env(seed_settings.home, HOIDAP_EMBEDDER=seed_settings.embedder),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["embedder"].startswith("e5-onnx:")
    assert summary["files"] == 5 and summary["new"] == 0 and summary["removed"] == 0
    assert summary["unchanged"] == summary["chunks"] > 20  # timing: bench/index_bench.py
