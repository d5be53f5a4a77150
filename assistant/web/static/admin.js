/*
 * hoidap admin page (/admin): the gaps report for editors — plain JavaScript, no build step.
 *
 * The page holds no data. It asks GET /v1/admin/gaps with the admin API key the editor
 * types (Authorization: Bearer …); the key stays in this tab's sessionStorage only, never
 * in a cookie. Without a key the request carries the operator's session cookie (set by
 * the login link `hoidap serve` prints; HttpOnly, this origin only), which the server
 * accepts as the admin's. Server text is only ever inserted with textContent.
 */
(function () {
  "use strict";

  var API = "/v1/admin/gaps";
  var STORAGE = "hoidap-admin-key";
  var MAX_WORDINGS = 5;
  var REASONS = { refused: "từ chối", thumbs_down: "không hài lòng" };
  var T = {
    loading: "Đang tải báo cáo…",
    exporting: "Đang xuất ca kiểm thử…",
    loaded: "{groups} nhóm câu hỏi chưa được trả lời, tổng {count} lượt (nhiều nhất trước).",
    empty:
      "Chưa có câu hỏi nào bị từ chối hay bị đánh giá không hài lòng. (Câu hỏi bị từ chối " +
      "chỉ được ghi lại khi máy chủ đặt HOIDAP_LOG_QUESTIONS=1.)",
    emptyExport: "Báo cáo đang trống: chưa có ca kiểm thử nào để xuất.",
    exported:
      "Đã xuất {n} ca kiểm thử vào tệp {file}. Khi bài viết đã có câu trả lời, hãy điền " +
      "đáp án vào tệp rồi chạy: hoidap eval --dataset {file}",
    needKey:
      "Cần khóa API quản trị: hãy nhập khóa rồi bấm «Tải báo cáo». Quản trị viên tạo khóa " +
      "trên máy chủ bằng lệnh hoidap keys create-admin.",
    wrongKey:
      "Khóa API không đúng hoặc đã bị thu hồi. Hãy kiểm tra lại khóa (tạo khóa mới bằng " +
      "lệnh hoidap keys create-admin).",
    widgetKey:
      "Đây là khóa công khai của widget (hdpk_…), không phải khóa API quản trị (hdsk_…).",
    notAdmin:
      "Khóa này không có quyền quản trị: báo cáo chỉ mở cho khóa API quản trị (hdsk_…).",
    badKey: "Khóa API chỉ gồm chữ cái không dấu, chữ số và các ký tự _ -; hãy dán lại khóa.",
    offline:
      "Không kết nối được với máy chủ. Hãy kiểm tra mạng hoặc máy chủ hoidap rồi thử lại.",
    failed: "Máy chủ báo lỗi (HTTP {status}). Vui lòng thử lại sau.",
    unreadable: "Máy chủ trả về dữ liệu không đọc được. Vui lòng thử lại sau.",
    more: "… và {n} cách hỏi khác",
    none: "—",
  };

  var form = document.getElementById("load-form");
  var keyInput = document.getElementById("key");
  var loadButton = document.getElementById("load");
  var exportButton = document.getElementById("export");
  var statusBox = document.getElementById("status");
  var table = document.getElementById("report");
  var rows = document.getElementById("rows");

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, name) {
      return String(values[name]);
    });
  }

  function showStatus(kind, text) {
    statusBox.className = "status" + (kind ? " " + kind : "");
    statusBox.textContent = text;
  }

  function storage(action, value) {
    try {
      if (action === "get") return window.sessionStorage.getItem(STORAGE) || "";
      if (value) window.sessionStorage.setItem(STORAGE, value);
      else window.sessionStorage.removeItem(STORAGE);
    } catch (e) {
      // storage disabled: the key then lives in the input field only
    }
    return "";
  }

  function setBusy(busy) {
    loadButton.disabled = busy;
    exportButton.disabled = busy;
  }

  // The request's headers, or null (with a message shown) when the typed key cannot be sent.
  function headers() {
    var key = keyInput.value.trim();
    if (key && !/^[\x21-\x7e]+$/.test(key)) {
      showStatus("error", T.badKey);
      return null;
    }
    storage("set", key);
    return key ? { Authorization: "Bearer " + key } : {};
  }

  async function errorText(response, hadKey) {
    var code = "";
    var message = "";
    try {
      var body = await response.json();
      code = (body && body.error && body.error.code) || "";
      message = (body && body.error && body.error.message) || "";
    } catch (e) {
      // not our JSON error shape (a proxy's page): the status decides
    }
    if (response.status === 401) {
      storage("set", "");
      if (code === "widget_key_as_bearer") return T.widgetKey;
      return hadKey ? T.wrongKey : T.needKey;
    }
    if (response.status === 403) return T.notAdmin;
    return message || fill(T.failed, { status: response.status });
  }

  // fetch with the key; returns the response when it is OK, else shows why and returns null.
  async function request(query, busyText) {
    var h = headers();
    if (h === null) return null;
    setBusy(true);
    showStatus("", busyText);
    try {
      var response = await fetch(API + query, {
        headers: h,
        credentials: "same-origin", // the login link's session, if this browser has one
        cache: "no-store",
      });
      if (!response.ok) {
        table.hidden = true;
        showStatus("error", await errorText(response, "Authorization" in h));
        return null;
      }
      return response;
    } catch (e) {
      showStatus("error", T.offline);
      return null;
    } finally {
      setBusy(false);
    }
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // ISO date-time (UTC) -> "dd/mm/yyyy hh:mm" in the browser's time zone.
  function when(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return iso || T.none;
    return (
      pad(d.getDate()) + "/" + pad(d.getMonth() + 1) + "/" + d.getFullYear() + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes())
    );
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (text !== undefined) td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function render(groups) {
    rows.textContent = "";
    groups.forEach(function (g) {
      var tr = document.createElement("tr");
      cell(tr, g.question, "question");
      cell(tr, String(g.count), "num count");
      var reasons = cell(tr, undefined, "reasons");
      Object.keys(g.reasons || {}).forEach(function (why) {
        var tag = document.createElement("span");
        tag.className = "reason " + why;
        tag.textContent = (REASONS[why] || why) + ": " + g.reasons[why];
        reasons.appendChild(tag);
      });
      var first = cell(tr, when(g.first), "when first");
      first.title = g.first || "";
      var last = cell(tr, when(g.last), "when last");
      last.title = g.last || "";
      var others = (g.wordings || []).filter(function (w) {
        return w !== g.question;
      });
      var td = cell(tr, others.length ? undefined : T.none, "wordings");
      if (others.length) {
        var ul = document.createElement("ul");
        others.slice(0, MAX_WORDINGS).forEach(function (w) {
          var li = document.createElement("li");
          li.textContent = w;
          ul.appendChild(li);
        });
        td.appendChild(ul);
        if (others.length > MAX_WORDINGS) {
          var more = document.createElement("span");
          more.className = "more";
          more.textContent = fill(T.more, { n: others.length - MAX_WORDINGS });
          td.appendChild(more);
        }
      }
      rows.appendChild(tr);
    });
    table.hidden = groups.length === 0;
  }

  async function load() {
    var response = await request("", T.loading);
    if (!response) return;
    var groups;
    try {
      groups = (await response.json()).groups;
      if (!Array.isArray(groups)) throw new Error("no groups");
    } catch (e) {
      showStatus("error", T.unreadable);
      return;
    }
    render(groups);
    if (!groups.length) {
      showStatus("empty", T.empty);
      return;
    }
    var total = groups.reduce(function (sum, g) {
      return sum + (g.count || 0);
    }, 0);
    showStatus("", fill(T.loaded, { groups: groups.length, count: total }));
  }

  async function exportCases() {
    var response = await request("?format=jsonl", T.exporting);
    if (!response) return;
    var text = await response.text();
    var n = text.split("\n").filter(Boolean).length;
    if (!n) {
      showStatus("empty", T.emptyExport);
      return;
    }
    var today = new Date();
    var file =
      "hoidap-gaps-" + today.getFullYear() + "-" + pad(today.getMonth() + 1) + "-" +
      pad(today.getDate()) + ".jsonl";
    var url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
    var link = document.createElement("a");
    link.href = url;
    link.download = file;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () {
      URL.revokeObjectURL(url);
    }, 10000);
    showStatus("", fill(T.exported, { n: n, file: file }));
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    load();
  });
  exportButton.addEventListener("click", exportCases);

  var saved = storage("get");
  if (saved) {
    keyInput.value = saved;
    load(); // a reload of the tab shows the report again without retyping the key
  }
})();
