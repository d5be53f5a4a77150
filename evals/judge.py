"""Optional LLM judge: is each answer supported by the passages it cites?

Only used when an LLM endpoint is configured (``HOIDAP_LLM_BASE_URL``). Its score is
reported on its own and never feeds the gate: a judge model is neither deterministic
nor always available, and the gate must be both.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from index.config import Settings

log = logging.getLogger(__name__)

JUDGE_SYSTEM = (
    "Bạn là người chấm điểm độ trung thực của câu trả lời. Chỉ dựa vào các đoạn trích "
    "được cung cấp, hãy xét xem MỌI thông tin trong câu trả lời có được các đoạn trích "
    "hỗ trợ hay không. Trả lời đúng một từ: CÓ nếu được hỗ trợ đầy đủ, KHÔNG nếu có bất kỳ "
    "thông tin nào không có trong các đoạn trích."
)
JUDGE_USER = "Câu hỏi: {question}\n\nCác đoạn trích:\n{passages}\n\nCâu trả lời: {answer}\n\nĐược hỗ trợ đầy đủ?"

_YES = re.compile(r"^\W*(có|co|yes)\b", re.IGNORECASE)
_NO = re.compile(r"^\W*(không|khong|no)\b", re.IGNORECASE)


def parse_verdict(text: str) -> float | None:
    """1.0 for CÓ, 0.0 for KHÔNG, None when the judge said something else."""
    text = (text or "").strip()
    if _NO.match(text):
        return 0.0
    if _YES.match(text):
        return 1.0
    return None


class FaithfulnessJudge:
    """Asks a chat model whether an answer is supported by its cited passages."""

    def __init__(self, chat, model: str):
        self.chat = chat
        self.model = model

    @classmethod
    def from_settings(cls, settings: Settings) -> FaithfulnessJudge | None:
        """A judge on the configured endpoint, or None when no endpoint is configured."""
        if not settings.llm_base_url:
            return None
        from langchain_openai import ChatOpenAI

        model = settings.llm_model or "gpt-4o-mini"
        chat = ChatOpenAI(
            model=model,
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key or "not-needed",
            timeout=settings.llm_timeout,
            max_retries=0,
            temperature=0,
        )
        return cls(chat, model)

    def verdict(self, question: str, answer: str, passages: list[str]) -> float | None:
        numbered = "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))
        messages = [
            ("system", JUDGE_SYSTEM),
            ("human", JUDGE_USER.format(question=question, passages=numbered, answer=answer)),
        ]
        reply = self.chat.invoke(messages)
        return parse_verdict(str(getattr(reply, "content", reply)))

    def judge(self, preds: Iterable[Mapping]) -> dict:
        """Mean faithfulness over answered predictions; judge failures are counted, not fatal."""
        verdicts: list[float] = []
        failures = unparsed = 0
        for p in preds:
            if p.get("answer") is None or p.get("refused") or p.get("error"):
                continue
            passages = list(dict.fromkeys(c["text"] for c in p.get("citations") or []))
            try:
                v = self.verdict(p["question"], p["answer"], passages)
            except Exception as exc:  # endpoint down or timing out: report it, keep going
                log.warning("judge failed on %s: %s", p.get("id"), exc)
                failures += 1
                continue
            if v is None:
                unparsed += 1
            else:
                verdicts.append(v)
        return {
            "faithfulness": sum(verdicts) / len(verdicts) if verdicts else None,
            "n_judged": len(verdicts),
            "n_failed": failures,
            "n_unparsed": unparsed,
            "model": self.model,
        }


def run_judge(settings: Settings, preds: list[Mapping], enabled: bool = True) -> dict:
    """The judge section of a report (``skipped`` says why when it did not run)."""
    if all(p.get("answer") is None for p in preds):
        return {"skipped": "retrieval-only run: no answers to judge"}
    if not enabled:
        return {"skipped": "disabled (--no-judge)"}
    judge = FaithfulnessJudge.from_settings(settings)
    if judge is None:
        return {"skipped": "no LLM endpoint configured (HOIDAP_LLM_BASE_URL)"}
    return judge.judge(preds)
