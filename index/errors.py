"""Errors that reach users: a stable code, a Vietnamese and an English message, and the fix."""

from __future__ import annotations


class HoidapError(Exception):
    """Base error. ``code`` is stable (API clients switch on it); messages say what to do."""

    code = "error"
    http_status = 400

    def __init__(self, message_en: str, message_vi: str | None = None, *, code: str | None = None):
        super().__init__(message_en)
        self.message_en = message_en
        self.message_vi = message_vi or message_en
        if code:
            self.code = code

    def to_json(self) -> dict:
        return {
            "error": {"code": self.code, "message": self.message_vi, "message_en": self.message_en}
        }


class ConfigError(HoidapError):
    code = "config_error"


class InputFileError(HoidapError):
    """A file that cannot be indexed (not UTF-8, binary, too large, empty)."""

    code = "bad_input_file"


class InvalidQuestion(HoidapError):
    code = "invalid_question"
    http_status = 422


class IndexEmpty(HoidapError):
    code = "index_empty"
    http_status = 503


class StoreUnavailable(HoidapError):
    code = "store_unavailable"
    http_status = 503


class EmbedderMismatch(HoidapError):
    code = "embedder_mismatch"
    http_status = 409
