"""Plain data types shared by indexing and retrieval."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Article:
    """One cleaned article: display text plus the metadata a citation shows."""

    source: str  # file name, e.g. "004_f3d8c4cbb43199e1.txt"
    title: str
    date: str | None  # ISO YYYY-MM-DD when the page states one
    author: str | None
    body: str  # cleaned article text (original characters, for display)
    content_hash: str  # sha256 of the raw file bytes


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage that stands alone: it carries its article's title and date."""

    chunk_id: str  # derived from content: sha of source + position + text
    source: str
    title: str
    date: str | None
    author: str | None
    text: str  # original passage text, shown and quoted in citations
    position: int  # order of the chunk within its article
    article_hash: str
    n_tokens: int = 0

    @property
    def url(self) -> str | None:
        """The original article's address when it came from the web (its source is one)."""
        return self.source if self.source.startswith(("https://", "http://")) else None

    def embedding_text(self) -> str:
        """What the dense model sees: title and date give the passage its context."""
        header = self.title if not self.date else f"{self.title} ({self.date})"
        return f"{header}\n{self.text}"

    def metadata(self) -> dict:
        """Flat metadata as stored in Chroma (no None values allowed there)."""
        # Written out rather than ``asdict``: called for every chunk of an index run, where
        # asdict's deep copy cost ~0.1 ms a chunk.
        return {
            "source": self.source,
            "title": self.title,
            "date": self.date or "",
            "author": self.author or "",
            "position": self.position,
            "article_hash": self.article_hash,
            "n_tokens": self.n_tokens,
        }

    @classmethod
    def from_store(cls, chunk_id: str, text: str, meta: dict) -> Chunk:
        return cls(
            chunk_id=chunk_id,
            source=str(meta.get("source", "")),
            title=str(meta.get("title", "")),
            date=meta.get("date") or None,
            author=meta.get("author") or None,
            text=text,
            position=int(meta.get("position", 0)),
            article_hash=str(meta.get("article_hash", "")),
            n_tokens=int(meta.get("n_tokens", 0)),
        )


@dataclass
class ScoredChunk:
    """A chunk with the scores retrieval gave it (fused score is what ranks)."""

    chunk: Chunk
    score: float
    dense: float | None = None
    lexical: float | None = None
    extra: dict = field(default_factory=dict)
