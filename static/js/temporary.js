// Temporary chats on the chat page. The conversation lives only here, in `turns`: each message is sent with the
// turns before it, and the reply streams back in the same POST (lines of JSON read from the response body), so
// the server keeps nothing and any app server can answer. A static file: the CSP forbids inline scripts.
"use strict";

(() => {
  const turns = [];
  let controller = null;

  const csrfToken = () => document.querySelector("meta[name=csrf-token]").content;

  const element = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const article = (role, status) => {
    const node = element("article", `message message-${role} status-${status}`);
    node.dataset.status = status;
    const meta = element("div", "message-meta");
    meta.append(element("strong", "", role === "user" ? "You" : "Assistant"));
    node.append(meta);
    return node;
  };

  const question = (text) => {
    const node = article("user", "complete");
    node.append(element("div", "message-text plain-text", text));
    return node;
  };

  const pendingReply = () => {
    const node = article("assistant", "pending");
    node.append(element("div", "message-text plain-text reply-stream"));
    const status = element("p", "reply-status");
    status.setAttribute("role", "status");
    const typing = element("span", "typing");
    typing.setAttribute("aria-hidden", "true");
    const stop = element("button", "secondary outline stop-button", "Stop");
    stop.type = "button";
    stop.addEventListener("click", () => controller && controller.abort());
    status.append(typing, " Writing… ", stop);
    node.append(status);
    return node;
  };

  const showMode = (on) => {
    const chat = document.getElementById("chat");
    if (chat) chat.classList.toggle("temporary-chat", on);
    const notice = document.getElementById("temporary-notice");
    if (notice) notice.hidden = !on;
    const heading = document.getElementById("new-chat-heading");
    if (heading) heading.textContent = on ? "Temporary chat" : "New conversation";
  };

  const setUp = () => {
    const box = document.getElementById("temporary");
    if (!box || box.dataset.ready) return;
    box.dataset.ready = "true";
    box.closest("[data-temporary-toggle]").hidden = false;
    const hint = document.getElementById("temporary-hint");
    if (hint) hint.hidden = false;
    box.addEventListener("change", () => showMode(box.checked));
    showMode(box.checked);
  };

  // Each line of the body is one JSON event; a line may arrive in pieces.
  async function* events(response) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line) yield JSON.parse(line);
      }
    }
  }

  const send = async (form, box) => {
    const textarea = form.querySelector("textarea[name=message]");
    const errors = form.querySelector(".composer-errors");
    const button = form.querySelector("button[type=submit]");
    const message = textarea.value;
    const body = { temporary: true, message, turns: turns.slice() };
    if (form.elements.model && form.elements.model.value) body.model = form.elements.model.value;
    const system = form.elements.system_prompt;
    if (system && system.value.trim()) body.system = system.value;
    const project = form.elements.project_id;
    if (project && project.value) body.project_id = Number(project.value);

    button.disabled = true;
    box.disabled = true; // a temporary chat stays temporary until the page is left
    controller = new AbortController();
    let response;
    try {
      response = await fetch(box.dataset.temporaryUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), "HX-Request": "true" },
        body: JSON.stringify(body),
        credentials: "same-origin",
        signal: controller.signal,
      });
    } catch (failure) {
      errors.replaceChildren(element("p", "flash flash-error", "The server could not be reached. Try again."));
      button.disabled = false;
      return;
    }
    if (!response.ok) {
      // The app's own error fragment (escaped by its templates), beside the form; what was typed stays.
      errors.innerHTML = await response.text();
      button.disabled = false;
      return;
    }
    errors.replaceChildren();
    textarea.value = "";
    const messages = document.getElementById("messages");
    const reply = pendingReply();
    messages.append(question(message), reply);
    const stream = reply.querySelector(".reply-stream");
    let text = "";
    let finished = null;
    try {
      for await (const event of events(response)) {
        if (event.delta) {
          text += event.delta;
          stream.append(event.delta);
          reply.scrollIntoView({ block: "end" });
        } else if (event.done) {
          finished = event;
        }
      }
    } catch (failure) {
      // Stop (the request was aborted) or the connection broke: the text so far stays, marked as stopped.
    }
    controller = null;
    if (finished) {
      reply.insertAdjacentHTML("afterend", finished.html);
      reply.remove();
    } else {
      reply.className = "message message-assistant status-interrupted";
      reply.dataset.status = "interrupted";
      const note = element("p", "reply-note", "The reply was stopped before the end.");
      note.setAttribute("role", "status");
      reply.querySelector(".reply-status").replaceWith(note);
    }
    turns.push({ role: "user", content: message });
    if (text && !(finished && finished.status === "error")) turns.push({ role: "assistant", content: text });
    button.disabled = false;
    textarea.focus();
  };

  // The composer's own request (htmx) would store the conversation: a temporary one is sent from here instead.
  document.addEventListener("htmx:confirm", (event) => {
    const form = event.detail.elt;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-composer")) return;
    const box = form.querySelector("#temporary");
    if (!box || !box.checked) return;
    event.preventDefault();
    send(form, box);
  });

  document.addEventListener("DOMContentLoaded", setUp);
  document.addEventListener("htmx:afterSettle", setUp);
  setUp();
})();
