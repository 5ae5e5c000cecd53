// Chat page for the clinic assistant, over Rasa's REST channel.
// Everything from the bot or the user is inserted as text (textContent), never as HTML.
(function () {
  "use strict";
  var KEY = "clinic-chat-sender";
  var sender = sessionStorage.getItem(KEY);
  if (!sender) {
    sender = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^a-z0-9-]/gi, "");
    sessionStorage.setItem(KEY, sender);
  }
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var typing = document.getElementById("typing");

  function add(text, who) {
    var item = document.createElement("li");
    item.className = who;
    item.textContent = text;
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function addButtons(buttons) {
    var row = document.createElement("li");
    row.className = "buttons";
    buttons.forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.addEventListener("click", function () { send(b.payload, b.title); });
      row.appendChild(btn);
    });
    log.appendChild(row);
  }

  function send(message, shown) {
    add(shown || message, "user");
    typing.hidden = false;
    return fetch("/webhooks/rest/webhook", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender, message: message })
    }).then(function (r) {
      if (!r.ok) { throw new Error("status " + r.status); }
      return r.json();
    }).then(function (replies) {
      replies.forEach(function (m) {
        if (m.text) { add(m.text, "bot"); }
        if (m.buttons && m.buttons.length) { addButtons(m.buttons); }
      });
    }).catch(function () {
      add("Sorry, the assistant can't be reached right now. Please try again, or call the clinic on (555) 010-0100.", "bot");
    }).then(function () { typing.hidden = true; input.focus(); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    send(text);
  });
  document.getElementById("handoff").addEventListener("click", function () {
    send("/human_handoff", "Talk to a person");
  });
  send("hi", "Hi");
})();
