/*
 * hoidap chat widget — plain JavaScript, no build step.
 *
 *   <script src="https://HOST/widget.js" data-key="hdpk_..." async></script>
 *
 * Renders a floating button and a chat panel inside a Shadow DOM (page CSS cannot reach
 * in, widget CSS cannot leak out). The API base is the script's own origin. Answers
 * stream from POST /v1/chat (Server-Sent Events read with fetch + ReadableStream).
 * Document text is only ever inserted with textContent, never as HTML.
 *
 * Optional attributes: data-mode="inline" (fills the page; used by /embed).
 */
(function () {
  "use strict";

  var script = document.currentScript || findScript();
  if (!script) return;
  var KEY = script.getAttribute("data-key") || "";
  var INLINE = script.getAttribute("data-mode") === "inline";
  var BASE = new URL(script.src, window.location.href).origin;
  var FLAG = "__hoidapWidget:" + KEY;
  if (window[FLAG]) return; // the tag was included twice
  window[FLAG] = true;

  var MAX_TURNS = 10;
  var T = {
    title: "Hỏi đáp về bài viết",
    open: "Mở trợ lý hỏi đáp",
    launcher: "Hỏi đáp",
    close: "Đóng",
    placeholder: "Nhập câu hỏi của bạn…",
    send: "Gửi",
    thinking: "Đang tìm câu trả lời…",
    sources: "Nguồn",
    passage: "Đoạn trích",
    cite: "Xem nguồn",
    greeting: "Xin chào! Hãy đặt câu hỏi về các bài viết; mỗi câu trả lời đều kèm nguồn trích dẫn.",
    checking: "Đang kết nối với trợ lý…",
    notAllowed:
      "Trang web này chưa được phép sử dụng trợ lý hỏi đáp (khóa không dành cho tên miền này).",
    offline: "Không kết nối được với máy chủ trợ lý. Vui lòng thử lại sau.",
    failed: "Đã có lỗi khi lấy câu trả lời. Vui lòng thử lại.",
    tooLong: "Câu hỏi quá dài: {len}/{n} ký tự. Hãy rút gọn để gửi.",
    newChat: "Cuộc trò chuyện mới",
    newChatShort: "Mới",
    helpful: "Hữu ích",
    notRight: "Chưa đúng",
    rateAsk: "Câu trả lời này có hữu ích không?",
    thanks: "Cảm ơn góp ý của bạn.",
    rateFailed: "Chưa gửi được góp ý. Vui lòng thử lại.",
    original: "Xem bài gốc",
    untitled: "Bài viết không có tiêu đề",
    noKey: "Thiếu khóa widget (thuộc tính data-key của thẻ script).",
  };

  var CSS = [
    ":host{all:initial}",
    "*,*::before,*::after{box-sizing:border-box}",
    ".hd-root{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',Arial,sans-serif;",
    "font-size:15px;line-height:1.45;color:#1f2933;-webkit-text-size-adjust:100%}",
    ".hd-launcher{position:fixed;right:16px;bottom:16px;z-index:2147483000;min-width:56px;height:56px;",
    "padding:0 18px;border:0;border-radius:28px;background:#0b5cad;color:#fff;font-weight:600;",
    "font-size:15px;line-height:1;font-family:inherit;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;",
    "align-items:center;gap:8px}",
    ".hd-launcher:focus-visible,.hd-root button:focus-visible,.hd-input:focus-visible{outline:3px solid #f5a623;outline-offset:2px}",
    ".hd-dot{width:10px;height:10px;border-radius:50%;background:#7fd18b;display:inline-block}",
    ".hd-panel{position:fixed;inset:0;z-index:2147483001;display:none;flex-direction:column;",
    "background:#fff;color:#1f2933}",
    ".hd-panel.hd-open{display:flex}",
    "@media (min-width:600px){.hd-panel:not(.hd-inline){inset:auto 16px 84px auto;width:400px;",
    "height:min(620px,calc(100vh - 110px));border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.28);",
    "overflow:hidden}}",
    ".hd-head{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;",
    "background:#0b5cad;color:#fff}",
    ".hd-title{font-weight:700;font-size:16px;margin:0}",
    ".hd-close{background:transparent;border:0;color:#fff;font-size:26px;line-height:1;cursor:pointer;",
    "padding:0 4px;font-family:inherit}",
    ".hd-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px;",
    "background:#f6f7f9;overscroll-behavior:contain}",
    ".hd-msg{max-width:92%;padding:9px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".hd-user{align-self:flex-end;background:#0b5cad;color:#fff;border-bottom-right-radius:4px}",
    ".hd-bot{align-self:flex-start;background:#fff;border:1px solid #e1e4e8;border-bottom-left-radius:4px}",
    ".hd-bot.hd-refused .hd-text{color:#52606d;font-style:italic}",
    ".hd-info{align-self:stretch;background:#eef4fb;color:#243b53;border-radius:10px;padding:9px 12px}",
    ".hd-error{align-self:stretch;background:#fdecec;color:#8a1c1c;border:1px solid #f5c2c2;",
    "border-radius:10px;padding:9px 12px}",
    ".hd-notice{font-size:13px;color:#7b5e00;margin:0 0 6px}",
    ".hd-marker{border:0;background:#e3edf9;color:#0b5cad;border-radius:6px;padding:0 4px;margin:0 1px;",
    "font-weight:600;font-size:12px;line-height:1.6;font-family:inherit;cursor:pointer;vertical-align:baseline}",
    ".hd-cites{margin:8px 0 0;padding:0;list-style:none;border-top:1px solid #e1e4e8}",
    ".hd-cites-title{font-size:12px;font-weight:700;text-transform:uppercase;letter-spacing:.04em;",
    "color:#52606d;margin:8px 0 4px}",
    ".hd-cite{margin:4px 0}",
    ".hd-cite summary{cursor:pointer;font-size:14px;color:#0b5cad;padding:4px 0;list-style-position:outside}",
    ".hd-cite-meta{font-size:13px;color:#52606d;margin:4px 0}",
    ".hd-cite-title{font-weight:600;color:#1f2933}",
    ".hd-passage{font-size:13px;background:#fafbfc;border-left:3px solid #0b5cad;margin:4px 0 8px;",
    "padding:6px 8px;white-space:pre-wrap}",
    ".hd-passage mark{background:#fff0a8;color:inherit;padding:0 1px}",
    ".hd-form{display:flex;gap:8px;padding:10px;border-top:1px solid #e1e4e8;background:#fff}",
    ".hd-input{flex:1;min-height:44px;max-height:120px;resize:none;border:1px solid #c5ccd3;",
    "border-radius:10px;padding:10px;font:inherit;color:#1f2933;background:#fff}",
    ".hd-send{min-width:64px;min-height:44px;border:0;border-radius:10px;background:#0b5cad;color:#fff;",
    "font-weight:600;font-size:15px;line-height:1;font-family:inherit;cursor:pointer}",
    ".hd-send:disabled,.hd-input:disabled{opacity:.55;cursor:not-allowed}",
    ".hd-typing{color:#52606d;font-style:italic}",
    ".hd-actions{display:flex;align-items:center;gap:4px}",
    ".hd-new{background:rgba(255,255,255,.16);border:1px solid rgba(255,255,255,.5);color:#fff;",
    "border-radius:8px;padding:4px 10px;font:inherit;font-size:13px;cursor:pointer}",
    ".hd-rate{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin:8px 0 0;font-size:13px;color:#52606d}",
    ".hd-rate button{border:1px solid #c5ccd3;background:#fff;color:#1f2933;border-radius:8px;",
    "padding:3px 10px;font:inherit;font-size:13px;cursor:pointer}",
    ".hd-rate button:disabled{opacity:.55;cursor:default}",
    ".hd-limit{display:none;padding:6px 10px 0;font-size:13px;color:#8a1c1c;background:#fff}",
    ".hd-limit.hd-show{display:block}",
  ].join("");

  function findScript() {
    var all = document.querySelectorAll('script[src*="/widget.js"][data-key]');
    return all.length ? all[all.length - 1] : null;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function formatDate(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || "");
    return m ? m[3] + "/" + m[2] + "/" + m[1] : iso || "";
  }

  // -- DOM ------------------------------------------------------------------------------
  var host = document.createElement("hoidap-widget");
  host.setAttribute(
    "style",
    "all:initial !important;display:block !important;visibility:visible !important;" +
      "opacity:1 !important;position:static !important;contain:none !important"
  );
  var shadow = host.attachShadow({ mode: "open" });
  if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } catch (e) {
      shadow.appendChild(el("style", null, CSS));
    }
  } else {
    shadow.appendChild(el("style", null, CSS));
  }

  var root = el("div", "hd-root");
  root.setAttribute("lang", "vi");
  shadow.appendChild(root);

  var launcher = el("button", "hd-launcher");
  launcher.type = "button";
  launcher.setAttribute("aria-label", T.open);
  launcher.setAttribute("aria-expanded", "false");
  launcher.appendChild(el("span", "hd-dot"));
  launcher.appendChild(el("span", null, T.launcher));

  var panel = el("section", "hd-panel" + (INLINE ? " hd-inline hd-open" : ""));
  panel.setAttribute("role", INLINE ? "region" : "dialog");
  panel.setAttribute("aria-label", T.title);
  var head = el("div", "hd-head");
  var title = el("h2", "hd-title", T.title);
  head.appendChild(title);
  var actions = el("div", "hd-actions");
  var newBtn = el("button", "hd-new", T.newChatShort);
  newBtn.type = "button";
  newBtn.setAttribute("aria-label", T.newChat);
  newBtn.title = T.newChat;
  actions.appendChild(newBtn);
  var closeBtn = el("button", "hd-close", "×");
  closeBtn.type = "button";
  closeBtn.setAttribute("aria-label", T.close);
  if (!INLINE) actions.appendChild(closeBtn);
  head.appendChild(actions);
  var log = el("div", "hd-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var form = el("form", "hd-form");
  var input = el("textarea", "hd-input");
  input.rows = 1;
  input.placeholder = T.placeholder;
  input.setAttribute("aria-label", T.placeholder);
  var send = el("button", "hd-send", T.send);
  send.type = "submit";
  form.appendChild(input);
  form.appendChild(send);
  var limitNote = el("div", "hd-limit");
  limitNote.setAttribute("role", "alert");
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(limitNote);
  panel.appendChild(form);
  if (!INLINE) root.appendChild(launcher);
  root.appendChild(panel);

  // -- state ----------------------------------------------------------------------------
  var state = { ready: false, checked: false, busy: false, maxChars: 2000, history: [] };
  var statusNode = el("div", "hd-info", T.checking);
  log.appendChild(statusNode);
  setEnabled(false);

  function setEnabled(on) {
    input.disabled = !on;
    send.disabled = !on || tooLong();
  }

  function tooLong() {
    return input.value.trim().length > state.maxChars;
  }

  // Over the limit, the question is kept as typed (never cut) and the reason is shown.
  function checkLength() {
    var over = tooLong();
    limitNote.textContent = over
      ? T.tooLong.replace("{len}", input.value.trim().length).replace("{n}", state.maxChars)
      : "";
    limitNote.classList.toggle("hd-show", over);
    if (!input.disabled) send.disabled = over;
  }

  function newConversation() {
    if (state.busy) return;
    state.history = [];
    while (log.firstChild) log.removeChild(log.firstChild);
    log.appendChild(statusNode);
    if (state.ready) showStatus("info", state.greeting || T.greeting);
    input.value = "";
    checkLength();
    if (!input.disabled) input.focus();
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function showStatus(kind, text) {
    statusNode.className = kind === "error" ? "hd-error" : "hd-info";
    statusNode.setAttribute("role", kind === "error" ? "alert" : "status");
    statusNode.textContent = text;
  }

  function openPanel() {
    if (!state.checked) {
      // Checked on first open, not on page load: page views do not spend the key's rate limit.
      state.checked = true;
      checkConfig();
    }
    panel.classList.add("hd-open");
    launcher.setAttribute("aria-expanded", "true");
    if (!input.disabled) input.focus();
    scrollDown();
  }

  function closePanel() {
    panel.classList.remove("hd-open");
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (panel.classList.contains("hd-open")) closePanel();
    else openPanel();
  });
  closeBtn.addEventListener("click", closePanel);
  newBtn.addEventListener("click", newConversation);
  input.addEventListener("input", checkLength);
  root.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !INLINE && panel.classList.contains("hd-open")) closePanel();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    submit();
  });

  // -- server calls ---------------------------------------------------------------------
  function postJson(path, payload) {
    return fetch(BASE + path, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json", "X-Hoidap-Key": KEY },
      body: JSON.stringify(payload),
    });
  }

  async function errorMessage(response) {
    try {
      var body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch (e) {
      /* not JSON */
    }
    return T.failed;
  }

  async function refusalOrOffline() {
    // A CORS refusal and a dead server look the same to fetch; an opaque probe tells them apart.
    try {
      await fetch(BASE + "/healthz", { mode: "no-cors", credentials: "omit", cache: "no-store" });
      return T.notAllowed;
    } catch (e) {
      return T.offline;
    }
  }

  async function checkConfig() {
    if (!KEY) {
      showStatus("error", T.noKey);
      return;
    }
    var response;
    try {
      response = await fetch(BASE + "/v1/widget/config?key=" + encodeURIComponent(KEY), {
        credentials: "omit",
        cache: "no-store",
      });
    } catch (e) {
      showStatus("error", await refusalOrOffline());
      return;
    }
    if (!response.ok) {
      showStatus("error", await errorMessage(response));
      return;
    }
    var cfg = await response.json();
    state.ready = true;
    state.maxChars = cfg.max_question_chars || state.maxChars;
    state.greeting = cfg.greeting || T.greeting;
    if (cfg.title) title.textContent = cfg.title;
    showStatus("info", state.greeting);
    setEnabled(true);
    if (panel.classList.contains("hd-open")) input.focus();
  }

  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        var frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        var name = "message";
        var data = [];
        frame.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) name = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
    }
  }

  // -- rendering ------------------------------------------------------------------------
  function renderText(node, text, citeNodes) {
    node.textContent = "";
    var parts = String(text).split(/(\[\d{1,3}\])/);
    parts.forEach(function (part) {
      var m = /^\[(\d{1,3})\]$/.exec(part);
      var target = m && citeNodes[m[1]];
      if (!target) {
        if (part) node.appendChild(document.createTextNode(part));
        return;
      }
      var b = el("button", "hd-marker", part);
      b.type = "button";
      b.setAttribute("aria-label", T.cite + " " + m[1]);
      b.addEventListener("click", function () {
        target.open = true;
        target.scrollIntoView({ block: "nearest" });
      });
      node.appendChild(b);
    });
  }

  function renderPassage(node, text, quote) {
    var at = quote ? text.indexOf(quote) : -1;
    if (at < 0) {
      node.textContent = text;
      return;
    }
    node.appendChild(document.createTextNode(text.slice(0, at)));
    node.appendChild(el("mark", null, quote));
    node.appendChild(document.createTextNode(text.slice(at + quote.length)));
  }

  function renderCitations(bubble, citations) {
    var nodes = {};
    if (!citations || !citations.length) return nodes;
    bubble.appendChild(el("p", "hd-cites-title", T.sources));
    var list = el("ul", "hd-cites");
    citations.forEach(function (c) {
      var item = el("li", "hd-cite");
      var details = el("details");
      details.setAttribute("data-n", String(c.n));
      var date = c.date ? formatDate(c.date) : "";
      var title = c.title || T.untitled; // never the internal file name
      details.appendChild(el("summary", null, "[" + c.n + "] " + title + (date ? " — " + date : "")));
      if (c.url && /^https?:\/\//i.test(c.url)) {
        var meta = el("p", "hd-cite-meta");
        var link = el("a", "hd-cite-link", T.original);
        link.setAttribute("href", c.url);
        link.setAttribute("target", "_blank");
        link.setAttribute("rel", "noopener noreferrer");
        meta.appendChild(link);
        details.appendChild(meta);
      }
      var passage = el("blockquote", "hd-passage");
      passage.setAttribute("aria-label", T.passage);
      renderPassage(passage, c.text || "", c.quote || "");
      details.appendChild(passage);
      item.appendChild(details);
      list.appendChild(item);
      nodes[String(c.n)] = details;
    });
    bubble.appendChild(list);
    return nodes;
  }

  function addUser(text) {
    log.appendChild(el("div", "hd-msg hd-user", text));
    scrollDown();
  }

  function addBot() {
    var bubble = el("div", "hd-msg hd-bot");
    var text = el("div", "hd-text hd-typing", T.thinking);
    bubble.appendChild(text);
    log.appendChild(bubble);
    scrollDown();
    return { bubble: bubble, text: text, streamed: "" };
  }

  function finish(view, answer, question) {
    view.text.classList.remove("hd-typing");
    if (answer.notice) view.bubble.insertBefore(el("p", "hd-notice", answer.notice), view.text);
    if (answer.refused) view.bubble.classList.add("hd-refused");
    var nodes = renderCitations(view.bubble, answer.refused ? [] : answer.citations);
    renderText(view.text, answer.answer, nodes);
    view.bubble.appendChild(rateButtons(question, answer));
    scrollDown();
  }

  // Votes go to the same store as the chat UI's (hoidap report gaps reads them).
  function rateButtons(question, answer) {
    var row = el("div", "hd-rate");
    row.appendChild(el("span", null, T.rateAsk));
    [
      [T.helpful, 1],
      [T.notRight, -1],
    ].forEach(function (option) {
      var b = el("button", null, option[0]);
      b.type = "button";
      b.addEventListener("click", async function () {
        row.querySelectorAll("button").forEach(function (x) {
          x.disabled = true;
        });
        var ok = false;
        try {
          var response = await postJson("/v1/feedback", {
            question: question,
            answer: answer.answer,
            citations: answer.citations || [],
            refused: !!answer.refused,
            rating: option[1],
          });
          ok = response.ok;
        } catch (e) {
          ok = false;
        }
        row.textContent = ok ? T.thanks : T.rateFailed;
      });
      row.appendChild(b);
    });
    return row;
  }

  function fail(view, message) {
    view.bubble.className = "hd-error";
    view.bubble.setAttribute("role", "alert");
    view.bubble.textContent = message;
    scrollDown();
  }

  // -- asking ---------------------------------------------------------------------------
  async function submit() {
    var question = input.value.trim();
    if (!state.ready || state.busy || !question) return;
    if (question.length > state.maxChars) {
      checkLength();
      return;
    }
    state.busy = true;
    setEnabled(false);
    input.value = "";
    checkLength();
    addUser(question);
    var view = addBot();
    var messages = state.history.slice(-2 * MAX_TURNS).concat([{ role: "user", content: question }]);
    var final = null;
    try {
      var response = await postJson("/v1/chat", { messages: messages });
      if (!response.ok) {
        fail(view, await errorMessage(response));
      } else {
        await readEvents(response, function (name, data) {
          if (name === "token") {
            view.streamed += data.text || "";
            view.text.classList.remove("hd-typing");
            view.text.textContent = view.streamed;
            scrollDown();
          } else if (name === "reset") {
            view.streamed = "";
            view.text.textContent = "";
          } else if (name === "final") {
            final = data;
            finish(view, data, question);
          } else if (name === "error") {
            fail(view, (data.error && data.error.message) || T.failed);
          }
        });
        if (!final && view.bubble.className.indexOf("hd-error") < 0) fail(view, T.failed);
      }
    } catch (e) {
      fail(view, await refusalOrOffline());
    }
    if (final) {
      state.history.push({ role: "user", content: question });
      state.history.push({ role: "assistant", content: final.answer });
    }
    state.busy = false;
    setEnabled(true);
    input.focus();
  }

  function mount() {
    (document.body || document.documentElement).appendChild(host);
    if (INLINE) openPanel();
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  window.hoidapWidget = window.hoidapWidget || {};
  window.hoidapWidget.open = openPanel;
})();
