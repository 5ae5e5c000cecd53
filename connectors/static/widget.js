/* Clinic chat widget. Embed with one tag, served by the assistant itself:
 *   <script src="https://ASSISTANT/widget/widget.js" data-practice="Maple Street Family Clinic"
 *           data-color="#0b5f4a" data-position="right" data-phone="(555) 010-0100" defer></script>
 * Protocol: connectors/widget.py. Everything from the bot or the patient is inserted with
 * textContent, never as HTML. The transcript is never written to browser storage: only the
 * signed session token is (localStorage), and the server replays the conversation. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__clinicWidget) { return; }
  var cfg = script.dataset;
  var base = new URL(script.src, location.href).origin;
  var practice = (cfg.practice || "Our clinic").slice(0, 80);
  var phone = (cfg.phone || "").slice(0, 40);
  var accent = /^#[0-9a-f]{6}$/i.test(cfg.color || "") ? cfg.color : "#0b5f4a";
  var side = cfg.position === "left" ? "left" : "right";
  var STORE = "clinic-widget:" + base; // {token, cid}: shared by tabs, survives reloads
  var OPEN = STORE + ":open"; // this tab's panel state
  var maxChars = 2000;

  // ---- colours: whatever the practice picks, text on it keeps >= 4.5:1 contrast ----------
  function lum(hex) {
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function contrast(a, b) { var x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
  var onAccent = contrast(accent, "#ffffff") >= contrast(accent, "#111111") ? "#ffffff" : "#111111";
  if (contrast(accent, onAccent) < 4.5) { accent = "#0b5f4a"; onAccent = "#ffffff"; }
  // Accent used as text on white (quick replies) needs 4.5:1 against white too.
  var accentText = contrast(accent, "#ffffff") >= 4.5 ? accent : "#1b1b1b";

  // ---- DOM ------------------------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }
  var link = el("link");
  link.rel = "stylesheet";
  link.href = base + "/widget/widget.css";
  document.head.appendChild(link);

  var root = el("div", "msw msw-" + side);
  root.style.setProperty("--msw-accent", accent);
  root.style.setProperty("--msw-on-accent", onAccent);
  root.style.setProperty("--msw-accent-text", accentText);
  var uid = "msw" + Math.random().toString(36).slice(2, 8);

  var launcher = el("button", "msw-launcher", "Chat with us");
  launcher.type = "button";
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", uid + "-panel");

  var panel = el("section", "msw-panel");
  panel.id = uid + "-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-labelledby", uid + "-title");

  var header = el("div", "msw-header");
  var title = el("h2", "msw-title", practice + " assistant");
  title.id = uid + "-title";
  var close = el("button", "msw-icon", "\u00d7");
  close.type = "button";
  close.setAttribute("aria-label", "Minimise chat");
  header.append(title, close);

  var banner = el("p", "msw-banner",
    "You're chatting with an automated assistant (AI), not a person. It can make mistakes. " +
    "In an emergency, call 911.");
  banner.id = uid + "-banner";
  panel.setAttribute("aria-describedby", banner.id);

  var tools = el("div", "msw-tools");
  var human = el("button", "msw-secondary", "Talk to a person");
  human.type = "button";
  var end = el("button", "msw-secondary", "End chat");
  end.type = "button";
  tools.append(human, end);

  var log = el("ol", "msw-log");
  log.setAttribute("aria-label", "Conversation");
  log.tabIndex = 0; // scrollable region must be reachable by keyboard
  var typing = el("p", "msw-typing", "Assistant is typing");
  typing.hidden = true;
  var status = el("p", "msw-status");
  status.setAttribute("role", "status");
  var alertBox = el("p", "msw-error");
  alertBox.setAttribute("role", "alert");
  var live = el("div", "msw-sr");
  live.setAttribute("aria-live", "polite");

  var form = el("form", "msw-composer");
  form.noValidate = true;
  var label = el("label", "msw-sr", "Message to the assistant");
  label.htmlFor = uid + "-input";
  var input = el("textarea", "msw-input");
  input.id = uid + "-input";
  input.rows = 2;
  input.placeholder = "Type your message";
  input.setAttribute("aria-describedby", uid + "-hint");
  var hint = el("span", "msw-sr", "Press Enter to send, Shift+Enter for a new line.");
  hint.id = uid + "-hint";
  var sendBtn = el("button", "msw-send", "Send");
  sendBtn.type = "submit";
  form.append(label, input, hint, sendBtn);

  panel.append(header, banner, tools, log, typing, status, alertBox, form, live);
  root.append(panel, launcher);
  document.body.appendChild(root);

  // ---- state ----------------------------------------------------------------------------
  var ws = null, ready = false, fatal = false, attempt = 0, retryTimer = null, everReady = 0;
  var replayUntil = 0; // seqs up to this came from replay: shown, not announced
  var seen = {}, lastSeq = 0, pending = [], counter = 0, connecting = false;
  var idleMs = 0, idleText = "";

  // Activity is kept with the session in localStorage, so every tab of the browser sees the
  // newest, including activity in a tab whose socket this one does not share.
  function touch() { var v = load(); if (v) { v.at = Date.now(); save(v); } }
  // A tab left open on a shared screen: once the conversation has been idle as long as the
  // server's session lasts, the transcript goes, as the server's copy does.
  function clearIfIdle() {
    var v = load();
    if (!idleMs || !v || !v.at || Date.now() - v.at < idleMs) { return; }
    resetLocal();
    showError("");
    setStatus(idleText);
  }

  function load() { try { return JSON.parse(localStorage.getItem(STORE)) || null; } catch (e) { return null; } }
  function save(v) { try { localStorage.setItem(STORE, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  function newId() { return (crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random()) + "-" + (++counter); }
  function setStatus(text) { status.textContent = text; }
  function showError(text) { alertBox.textContent = text || ""; }
  function callUs() { return phone ? " or call " + phone : " or call the clinic"; }

  function announce(text) {
    var line = el("p", null, text);
    live.appendChild(line);
    while (live.childNodes.length > 3) { live.removeChild(live.firstChild); }
  }

  function clearTranscript() {
    log.textContent = "";
    seen = {}; lastSeq = 0; replayUntil = 0;
  }

  function removeReplies() {
    var groups = log.querySelectorAll(".msw-replies");
    var hadFocus = false;
    groups.forEach(function (g) { hadFocus = hadFocus || g.contains(document.activeElement); g.remove(); });
    if (hadFocus) { input.focus(); }
  }

  function bubble(who, text) {
    var item = el("li", "msw-msg msw-" + who);
    item.append(el("span", "msw-sr", who === "bot" ? "Assistant: " : "You: "), document.createTextNode(text));
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function addReplies(buttons) {
    var item = el("li", "msw-replies");
    var group = el("div", "msw-reply-group");
    item.appendChild(group);
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Suggested replies");
    buttons.forEach(function (b) {
      var btn = el("button", "msw-reply", b.title || b.payload);
      btn.type = "button";
      btn.addEventListener("click", function () { sendMessage(b.payload, b.title); });
      group.appendChild(btn);
    });
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function render(f) {
    if (seen[f.seq]) { return; } // already shown (replay after reconnect, or another tab)
    seen[f.seq] = true;
    lastSeq = Math.max(lastSeq, f.seq);
    if (f.seq > replayUntil) { touch(); }
    removeReplies();
    if (f.from === "user") {
      var mine = f.id && log.querySelector('[data-id="' + CSS.escape(f.id) + '"]');
      if (mine) { mine.classList.remove("msw-pending"); mine.removeAttribute("data-id"); return; }
      bubble("user", f.text);
    } else {
      bubble("bot", f.text || "");
      if (f.seq > replayUntil || everReady > 1) { announce("Assistant: " + (f.text || "")); }
      if (f.buttons && f.buttons.length) { addReplies(f.buttons); }
    }
  }

  // ---- connection -------------------------------------------------------------------------
  function scheduleReconnect() {
    if (fatal || retryTimer) { return; }
    var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.8 + Math.random() * 0.4);
    attempt += 1;
    if (attempt > 1) { setStatus("Connection lost. Reconnecting in " + Math.ceil(delay / 1000) + " s…"); }
    retryTimer = setTimeout(function () { retryTimer = null; connect(); }, delay);
  }

  function connect() {
    if (fatal || connecting || (ws && ws.readyState <= 1)) { return; }
    connecting = true;
    var saved = load();
    fetch(base + "/webhooks/widget/session", {
      method: "POST", mode: "cors", credentials: "omit",
      headers: { "Content-Type": "text/plain" }, // a "simple" request: no CORS preflight
      body: JSON.stringify({ token: saved && saved.token })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      connecting = false;
      if (!res.ok) {
        fatal = true;
        showError(res.body.message || "The chat isn't available here. Please try again later" + callUs() + ".");
        setStatus("");
        return;
      }
      var s = res.body;
      maxChars = s.max_chars || maxChars;
      idleMs = (s.idle_s || 0) * 1000;
      idleText = s.idle_message || "";
      if (!saved || saved.cid !== s.conversation_id) {
        clearTranscript();
        if (s.expired) { setStatus(s.expired_message); }
      }
      save({ token: s.token, cid: s.conversation_id, at: Date.now() });
      openSocket(s.token);
    }).catch(function () {
      connecting = false;
      setStatus("Can't reach the chat right now. Trying again…");
      scheduleReconnect();
    });
  }

  function openSocket(token) {
    var socket = new WebSocket(base.replace(/^http/, "ws") + "/webhooks/widget/ws");
    ws = socket;
    socket.onopen = function () { socket.send(JSON.stringify({ type: "hello", token: token, after: lastSeq })); };
    socket.onmessage = function (event) {
      var f;
      try { f = JSON.parse(event.data); } catch (e) { return; }
      onFrame(f, socket);
    };
    socket.onclose = function () {
      if (ws === socket) { ws = null; ready = false; typing.hidden = true; scheduleReconnect(); }
    };
  }

  function onFrame(f, socket) {
    if (f.type === "ready") {
      ready = true; attempt = 0; everReady += 1;
      // The server forgot the conversation (restarted): its seqs start again at 1.
      if (f.last_seq < lastSeq) { seen = {}; lastSeq = 0; }
      replayUntil = f.last_seq;
      if (status.textContent.indexOf("Reconnect") === 0 || status.textContent.indexOf("Can't") === 0) { setStatus(""); }
      if (f.last_seq === 0 && !lastSeq) { socket.send(JSON.stringify({ type: "start" })); }
      pending.forEach(function (m) { socket.send(JSON.stringify(m)); }); // unacknowledged: resend
    } else if (f.type === "msg") {
      render(f);
    } else if (f.type === "ack") {
      pending = pending.filter(function (m) { return m.id !== f.id; });
    } else if (f.type === "typing") {
      typing.hidden = !f.on;
      if (f.on) { log.scrollTop = log.scrollHeight; }
    } else if (f.type === "error") {
      if (f.id) { failed(f.id); }
      showError(f.text);
      if (f.code === "origin_not_allowed") { fatal = true; }
      if (f.code === "session_expired") { localStorage.removeItem(STORE); }
    }
  }

  function failed(id) {
    var m = pending.filter(function (p) { return p.id === id; })[0];
    pending = pending.filter(function (p) { return p.id !== id; });
    var item = log.querySelector('[data-id="' + CSS.escape(id) + '"]');
    if (item) { item.remove(); }
    // Give the words back so nothing the patient typed is lost.
    if (m && !m.title && !input.value) { input.value = m.text; }
  }

  function sendMessage(text, shownAs) {
    showError("");
    if (text.length > maxChars) {
      showError("That message is too long for the chat (the limit is " + maxChars.toLocaleString("en-US") +
        " characters). Please shorten it or send it in parts.");
      return false;
    }
    var m = { type: "message", id: newId(), text: text };
    if (shownAs) { m.title = shownAs; }
    removeReplies();
    var item = bubble("user", shownAs || text);
    item.classList.add("msw-pending");
    item.setAttribute("data-id", m.id);
    pending.push(m);
    touch();
    if (ws && ready) { ws.send(JSON.stringify(m)); } else { connect(); }
    return true;
  }

  // ---- controls -----------------------------------------------------------------------------
  function openPanel(focus) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    root.classList.add("msw-open");
    try { sessionStorage.setItem(OPEN, "1"); } catch (e) { /* ignore */ }
    connect();
    if (focus) { input.focus(); }
  }
  function closePanel() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    root.classList.remove("msw-open");
    try { sessionStorage.removeItem(OPEN); } catch (e) { /* ignore */ }
    launcher.focus();
  }
  function resetLocal() {
    localStorage.removeItem(STORE);
    pending = [];
    clearTranscript();
    if (ws) { var old = ws; ws = null; ready = false; old.close(); }
  }

  launcher.addEventListener("click", function () { if (panel.hidden) { openPanel(true); } else { closePanel(); } });
  close.addEventListener("click", closePanel);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { closePanel(); } });
  human.addEventListener("click", function () { sendMessage("/human_handoff", "Talk to a person"); input.focus(); });
  end.addEventListener("click", function () {
    resetLocal();
    showError("");
    setStatus("Chat ended. Your conversation was cleared from this browser.");
    closePanel();
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) { input.focus(); return; }
    if (sendMessage(text)) { input.value = ""; }
    input.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  // "End chat" in another tab ends it here too.
  window.addEventListener("storage", function (e) {
    if (e.key !== STORE || e.newValue) { return; }
    var old = null;
    try { old = JSON.parse(e.oldValue); } catch (x) { /* not ours */ }
    var idled = idleMs && old && old.at && Date.now() - old.at >= idleMs;
    resetLocal();
    setStatus(idled ? idleText : "This chat was ended in another tab.");
  });
  window.addEventListener("online", function () {
    if (!ws && !panel.hidden) { clearTimeout(retryTimer); retryTimer = null; attempt = 0; connect(); }
  });

  setInterval(clearIfIdle, 15000);
  document.addEventListener("visibilitychange", clearIfIdle);

  var restore = false;
  try { restore = sessionStorage.getItem(OPEN) === "1"; } catch (e) { /* ignore */ }
  if (restore) { openPanel(false); }
  // drop(): close the connection as a network failure would (tests, support staff).
  window.__clinicWidget = { open: openPanel, close: closePanel, drop: function () { if (ws) { ws.close(); } } };
})();
