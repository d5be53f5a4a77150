"""The Gradio chat UI: wiring only. Formatting lives in ``ui_format``, storage in ``feedback``.

``build_ui`` returns a ``gr.Blocks`` that ``assistant.web.server`` mounts at ``/``; it can also
be launched on its own (``build_ui(a, s).launch()``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from itertools import chain
from types import SimpleNamespace

import gradio as gr

from assistant.answering.answer import Answer, Citation
from assistant.answering.assistant import Assistant
from assistant.web.api.config import ApiConfig
from assistant.web.api.errors import public_error
from assistant.web.feedback import FeedbackStore
from assistant.web.ui_format import (
    SOURCES_PLACEHOLDER,
    SOURCES_SEARCHING,
    error_message,
    escape_markdown,
    example_questions,
    format_answer,
    format_partial,
    rating_from_like,
    render_conversation_sources,
    to_assistant_history,
)
from index.config import Settings
from index.errors import HoidapError

log = logging.getLogger(__name__)

TITLE = "Hỏi đáp chuyển đổi số"
INTRO = (
    f"# {TITLE}\n"
    "Đặt câu hỏi về các bài báo đã lập chỉ mục; câu trả lời chỉ dựa trên các bài viết "
    "và ghi rõ nguồn [n]. Có thể hỏi tiếp nối (ví dụ: «Còn Nam Định thì sao?»)."
)
SOURCES_CSS = """
.hoidap-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 12px; margin-bottom: 10px; }
.hoidap-source-head { font-weight: 600; }
.hoidap-source-n { color: var(--color-accent); }
.hoidap-source-meta { font-size: 0.85em; opacity: 0.8; margin: 2px 0 6px; }
.hoidap-source-text { margin: 0; white-space: pre-wrap; font-size: 0.92em; }
.hoidap-sources-empty { opacity: 0.7; font-style: italic; }
mark.hoidap-quote { background: #fde68a; color: inherit; padding: 0 2px; }
.hoidap-sources-question { font-size: 0.85em; opacity: 0.75; margin: 12px 0 4px; }
.hoidap-source-active { outline: 3px solid var(--color-accent); outline-offset: 2px; }
"""
# On a phone the two columns stack: the sources move up to sit right under the answer and
# the question box, above the new-conversation button, the examples and the feedback box.
PAGE_CSS = """
@media (max-width: 820px) {
  #hoidap-main { flex-direction: column; }
  #hoidap-chat-col { display: contents; }
  #hoidap-chat-col > * { order: 3; }
  #hoidap-chat, #hoidap-status, #hoidap-ask-row { order: 1; }
  #hoidap-sources-col { order: 2; min-width: 0 !important; }
}
"""

# A click on a marker [n] in an answer scrolls the sources panel to that answer's card n
# and highlights it (capture phase: the chat's own link handling never opens a tab).
MARKER_CLICKS_JS = (
    """
if (!window.__hoidapMarkers) {
  window.__hoidapMarkers = true;
  const style = document.createElement("style");
  style.textContent = PAGE_CSS;
  document.head.appendChild(style);""".replace("PAGE_CSS", json.dumps(PAGE_CSS))
    + """
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#hoidap-src-"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const card = document.getElementById(link.getAttribute("href").slice(1));
    if (!card) return;
    document.querySelectorAll(".hoidap-source-active").forEach((c) => {
      c.classList.remove("hoidap-source-active");
    });
    card.classList.add("hoidap-source-active");
    card.scrollIntoView({behavior: "smooth", block: "center"});
  }, true);
}
"""
)

# Outputs of the answer handler, in order: chat, question box, sources, status, answers.
_Update = tuple[list[dict], object, object, str, dict]


def _answer_record(answer: Answer, history: list[dict]) -> dict:
    """What a later thumbs up/down needs to store about one answer."""
    return {
        "question": answer.question,
        "answer": answer.answer,
        "citations": [asdict(c) for c in answer.citations],
        "standalone_question": answer.standalone_question,
        "mode": answer.mode,
        "refused": answer.refused,
        "history": history,
    }


def _shown(answers: dict) -> list[tuple[int, Answer]]:
    """The conversation's answers (from their feedback records), in chat order."""
    out = []
    for turn in sorted(answers, key=int):
        r = answers[turn]
        citations = [Citation(**c) for c in r["citations"]]
        out.append(
            (int(turn), Answer(r["question"], r["answer"], r["refused"], citations, r["mode"], 0.0))
        )
    return out


def check_ui_history(chat: list, limits: ApiConfig) -> None:
    """The API's history limits for the UI's conversation (it travels with each call):
    more earlier turns, or a longer one, is refused before any work."""
    if len(chat) > limits.max_turns:
        raise HoidapError(
            f"The conversation has {len(chat)} earlier turns; the limit is {limits.max_turns}. "
            "Start a new conversation.",
            f"Cuộc trò chuyện đã có {len(chat)} lượt, vượt giới hạn {limits.max_turns}. "
            "Hãy bấm «Cuộc trò chuyện mới» để hỏi tiếp.",
            code="too_many_turns",
        )
    longest = max((len(str(m)) for m in chat), default=0)
    if longest > 2 * limits.max_turn_chars:  # a bubble holds the text plus its markup
        raise HoidapError(
            f"One earlier turn is {longest} characters long; the limit is {limits.max_turn_chars}.",
            f"Một lượt trước đó dài {longest} ký tự, vượt giới hạn {limits.max_turn_chars}. "
            "Hãy bấm «Cuộc trò chuyện mới».",
            code="turn_too_long",
        )


def build_ui(
    assistant: Assistant, settings: Settings | None = None, limits: ApiConfig | None = None
) -> gr.Blocks:
    """The Vietnamese chat page over ``assistant``; feedback goes to ``settings.home``;
    ``limits`` are the API's history limits (``HOIDAP_API_MAX_TURNS``…)."""
    settings = settings or assistant.settings
    limits = limits or ApiConfig.from_env()
    feedback = FeedbackStore.for_settings(settings)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        ui = _layout()
        _wire(ui, _respond_handler(assistant, limits), feedback, limits)
    return demo


def _respond_handler(assistant: Assistant, limits: ApiConfig):
    """The answer handler: the chat, question box, sources, status and answers, streamed."""

    def respond(message: str, chat: list | None, answers: dict | None) -> Iterator[_Update]:
        chat, answers = list(chat or []), dict(answers or {})
        try:
            check_ui_history(chat, limits)
            assistant.validate(message)
            history = to_assistant_history(chat)
            events = assistant.stream(message, history)
            first = next(events)  # retrieval runs here: errors surface before the chat changes
        except Exception as exc:  # shown as a message, never as a traceback
            _log_error(exc)  # the chat is unchanged: nothing of it is sent back
            yield gr.skip(), gr.skip(), gr.skip(), error_message(public_error(exc)), gr.skip()
            return
        chat += [
            {"role": "user", "content": escape_markdown(message.strip())},
            {"role": "assistant", "content": ""},
        ]
        yield chat, "", SOURCES_SEARCHING, "", answers
        text, answer = "", None
        try:
            for event in chain([first], events):
                if event["type"] == "token":
                    text += event["text"]
                elif event["type"] == "reset":  # LLM failed mid-answer; extractive follows
                    text = ""
                elif event["type"] == "final":
                    answer = event["answer"]
                    continue
                else:  # progress events ("retrieved") change nothing on screen
                    continue
                chat[-1] = {"role": "assistant", "content": format_partial(text)}
                yield chat, gr.skip(), gr.skip(), "", answers
        except Exception as exc:
            _log_error(exc)
            yield chat[:-2], message, SOURCES_PLACEHOLDER, error_message(public_error(exc)), answers
            return
        if answer is None:  # the pipeline always ends with "final"; guard anyway
            yield chat[:-2], message, SOURCES_PLACEHOLDER, error_message(RuntimeError()), answers
            return
        turn = len(chat) - 1
        chat[-1] = {"role": "assistant", "content": format_answer(answer, turn)}
        answers[turn] = _answer_record(answer, history)
        yield chat, "", render_conversation_sources(_shown(answers)), "", answers

    return respond


def _new_conversation():
    return [], "", SOURCES_PLACEHOLDER, "", {}, {}, None, ""


def _like_handler(feedback: FeedbackStore):
    """A thumbs up/down on an answer, stored (a changed vote replaces the earlier one)."""

    def on_like(answers: dict, votes: dict, reason: str, evt: gr.LikeData):
        index = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        record = (answers or {}).get(index)
        if record is None:
            return "Lỗi: không tìm thấy câu trả lời này để ghi nhận góp ý.", votes, None, gr.skip()
        votes = dict(votes or {})
        try:
            if index in votes:  # a changed or withdrawn vote replaces the earlier one
                feedback.delete(votes.pop(index))
            rating = rating_from_like(evt.liked)
            if rating is None:
                return "Đã bỏ góp ý cho câu trả lời này.", votes, None, gr.skip()
            row = feedback.record(
                record["question"],
                record["answer"],
                record["citations"],
                rating,
                reason or None,
                record["standalone_question"],
                record["mode"],
                refused=record["refused"],
                history=record["history"],
            )
        except Exception as exc:
            _log_error(exc)
            return error_message(public_error(exc)), votes, None, gr.skip()
        votes[index] = row
        thanks = (
            "Cảm ơn bạn đã góp ý (hữu ích)." if rating > 0 else "Đã ghi nhận góp ý (chưa đúng)."
        )
        if reason and reason.strip():
            return f"{thanks} Lý do đã được lưu.", votes, row, ""
        hint = " Bạn có thể nhập lý do rồi bấm «Gửi lý do»."
        return thanks + hint, votes, row, gr.skip()

    return on_like


def _reason_handler(feedback: FeedbackStore):
    """The «Gửi lý do» button: attach a reason to the last vote."""

    def on_reason(last_vote: int | None, reason: str):
        if last_vote is None:
            return (
                "Hãy bấm nút thích hoặc không thích dưới một câu trả lời trước khi gửi lý do.",
                gr.skip(),
            )
        if not reason or not reason.strip():
            return "Lý do đang trống; hãy nhập lý do.", gr.skip()
        try:
            feedback.set_reason(last_vote, reason)
        except Exception as exc:
            _log_error(exc)
            return error_message(public_error(exc)), gr.skip()
        return "Đã lưu lý do. Cảm ơn bạn!", ""

    return on_reason


def _layout() -> SimpleNamespace:
    """The page's components (inside the caller's ``gr.Blocks``)."""
    answers = gr.State({})  # chat message index -> answer record (for feedback)
    votes = gr.State({})  # chat message index -> feedback row id
    last_vote = gr.State(None)  # row id the "Gửi lý do" button attaches to
    gr.Markdown(INTRO, elem_id="hoidap-intro")
    with gr.Row(elem_id="hoidap-main"):
        with gr.Column(scale=3, elem_id="hoidap-chat-col"):
            chatbot = gr.Chatbot(
                label="Trò chuyện",
                elem_id="hoidap-chat",
                height=480,
                latex_delimiters=[],
                feedback_options=("Like", "Dislike"),
                buttons=["copy"],
                placeholder="Hãy đặt câu hỏi về chuyển đổi số để bắt đầu.",
            )
            status = gr.Markdown("", elem_id="hoidap-status")
            with gr.Row(elem_id="hoidap-ask-row"):
                question = gr.Textbox(
                    placeholder="Nhập câu hỏi về chuyển đổi số, ví dụ: Đề án 06 là gì?",
                    show_label=False,
                    scale=5,
                    autofocus=True,
                    elem_id="hoidap-question",
                )
                send = gr.Button("Gửi", variant="primary", scale=1, elem_id="hoidap-send")
            new_chat = gr.Button("Cuộc trò chuyện mới", elem_id="hoidap-new")
            examples = example_questions()
            if examples:  # a replacing lexicon may have none
                gr.Examples([[q] for q in examples], inputs=[question], label="Câu hỏi ví dụ")
            with gr.Row():
                reason = gr.Textbox(
                    label="Lý do góp ý (không bắt buộc)",
                    placeholder="Ví dụ: trích sai bài, thiếu ý, lẽ ra phải trả lời được…",
                    scale=5,
                    elem_id="hoidap-reason",
                )
                send_reason = gr.Button("Gửi lý do", scale=1, elem_id="hoidap-send-reason")
        with gr.Column(scale=2, elem_id="hoidap-sources-col"):
            gr.Markdown("### Nguồn trích dẫn")
            sources = gr.HTML(
                SOURCES_PLACEHOLDER,
                elem_id="hoidap-sources",
                css_template=SOURCES_CSS,
                js_on_load=MARKER_CLICKS_JS,
            )
    return SimpleNamespace(
        answers=answers,
        votes=votes,
        last_vote=last_vote,
        chatbot=chatbot,
        status=status,
        question=question,
        send=send,
        new_chat=new_chat,
        reason=reason,
        send_reason=send_reason,
        sources=sources,
    )


def _wire(ui: SimpleNamespace, respond, feedback: FeedbackStore, limits: ApiConfig) -> None:
    """Connect the components to their handlers."""
    answer_io = {
        "fn": respond,
        "inputs": [ui.question, ui.chatbot, ui.answers],
        "outputs": [ui.chatbot, ui.question, ui.sources, ui.status, ui.answers],
        "concurrency_id": "answer",
        "concurrency_limit": limits.workers,  # as many at once as the API's pipelines
        "show_progress": "minimal",
    }
    ui.question.submit(**answer_io)
    ui.send.click(**answer_io)
    reset_outputs = [
        *(ui.chatbot, ui.question, ui.sources, ui.status),
        *(ui.answers, ui.votes, ui.last_vote, ui.reason),
    ]
    ui.new_chat.click(_new_conversation, None, reset_outputs, queue=False)
    ui.chatbot.clear(_new_conversation, None, reset_outputs, queue=False)
    ui.chatbot.like(
        _like_handler(feedback),
        [ui.answers, ui.votes, ui.reason],
        [ui.status, ui.votes, ui.last_vote, ui.reason],
    )
    ui.send_reason.click(
        _reason_handler(feedback), [ui.last_vote, ui.reason], [ui.status, ui.reason]
    )


def _log_error(exc: BaseException) -> None:
    """Users' own mistakes at info level; server-side failures are logged (with the
    request id the user sees) by :func:`public_error`."""
    if isinstance(exc, HoidapError) and exc.http_status < 500:
        log.info("UI request failed: %s (%s)", exc.message_en, exc.code)
