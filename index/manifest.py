"""What the last index run left in the store, per source file.

With it, an unchanged re-run decides "nothing to do" from file hashes alone: no file is
cleaned or chunked again and the store's metadata is not read back. It is trusted only
while the store's generation is the one it was written with (any other writer, or a run
killed half-way, changes the generation first), and only for the same chunking code
and settings; otherwise the run reads the store as before and writes a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from index.private import private_dir

MANIFEST_VERSION = 1
# Modules whose code decides which chunks a file gives (the source readers included): a
# change to any of them makes an earlier manifest describe other chunks than this version
# would produce.
_CHUNKING_MODULES = (
    "clean.py", "chunker.py", "normalize.py", "markup.py", "types.py", "tokens.py",
    "sources/base.py", "sources/text.py", "sources/html.py", "sources/pdf.py", "sources/docx.py",
)  # fmt: skip


def chunking_key(chunk_tokens: int, chunk_overlap: int, embedder: str) -> str:
    """Identity of how files become stored chunks: settings, embedder and chunking code."""
    digest = hashlib.sha256(f"{chunk_tokens}:{chunk_overlap}:{embedder}".encode())
    here = Path(__file__).resolve().parent
    for name in _CHUNKING_MODULES:
        path = here / name
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Manifest:
    generation: str  # the store generation this manifest describes
    chunking: str  # chunking_key() it was written with
    lexical: str = ""  # fingerprint of the lexical index saved with it
    files: dict[str, str] = field(default_factory=dict)  # source -> sha256 of the file
    chunks: dict[str, dict] = field(default_factory=dict)  # chunk_id -> stored metadata
    _by_source: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    def trusted(self, generation: str, chunking: str) -> bool:
        return bool(generation) and self.generation == generation and self.chunking == chunking

    def chunks_of(self, source: str) -> list[str]:
        """The chunk ids of one source (grouped once: a run asks for every file's)."""
        if self._by_source is None:
            grouped: dict[str, list[str]] = {}
            for cid, meta in self.chunks.items():
                grouped.setdefault(str(meta.get("source", "")), []).append(cid)
            self._by_source = grouped
        return self._by_source.get(source, [])

    def save(self, path: Path) -> None:
        """Written atomically, owner-only (it names every article)."""
        private_dir(path.parent)
        payload = {
            "version": MANIFEST_VERSION,
            "generation": self.generation,
            "chunking": self.chunking,
            "lexical": self.lexical,
            "files": self.files,
            "chunks": self.chunks,
        }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        """The saved manifest, or None when missing, unreadable or not shaped like one."""
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(payload, dict) or payload.get("version") != MANIFEST_VERSION:
            return None
        files, chunks = payload.get("files"), payload.get("chunks")
        strings = [payload.get(k) for k in ("generation", "chunking", "lexical")]
        if not all(isinstance(x, str) for x in strings):
            return None
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            return None
        if not isinstance(chunks, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in chunks.items()
        ):
            return None
        return cls(strings[0], strings[1], strings[2], files, chunks)
