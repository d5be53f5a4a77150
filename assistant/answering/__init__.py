"""The answer path: a question (with its history) in, a cited answer or a refusal out.

Every entry point (CLI, UI, HTTP API, widget, evals) goes through :class:`Assistant`.
Read it top-down in this order:

1. ``assistant.py``: :class:`Assistant`, the whole path in one class.
2. ``followup.py`` (a follow-up question made standalone), ``query.py`` (normalisation,
   abbreviations, restored accents, the English glossary).
3. ``retriever.py``: hybrid retrieval, dense and BM25 scores fused.
4. ``extractive.py`` with ``slots.py``, ``abbreviations.py`` and ``refusal.py``
   (``calibration.json``): the offline answerer and when it refuses; ``reader/``: the learned
   reader (ONNX model in ``reader/model/``); ``summary.py``: "summarise the article on …";
   ``llm.py``: the optional LLM answerer.
5. ``subjects.py`` (an answer sentence's opening «Tỉnh», «Ông», «Bộ» named), ``citations.py``
   (every marker verified, ``plain_text.py``) and ``leakguard.py`` (no
   prompt or instruction text leaves).
6. ``answer.py``: the :class:`Answer` every interface returns.

``langchain_adapters.py`` exposes the retriever and embedder to LangChain.
"""

from assistant.answering.answer import REFUSAL_TEXT, Answer, Citation
from assistant.answering.assistant import LLM_FALLBACK_NOTICE, Assistant

__all__ = ["LLM_FALLBACK_NOTICE", "REFUSAL_TEXT", "Answer", "Assistant", "Citation"]
