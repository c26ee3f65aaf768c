// The chat page's behaviour. A static file, so the Content-Security-Policy can keep forbidding inline scripts.
"use strict";

(() => {
  // Enter sends the message; Shift+Enter (or Enter while an input method composes a word) adds a line.
  document.addEventListener("keydown", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLTextAreaElement) || box.dataset.enterSends !== "true") return;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    const form = box.form;
    const send = form && form.querySelector("button[type=submit]");
    if (form && box.value.trim() && !(send && send.disabled)) form.requestSubmit();
  });

  // A refused request (empty message, too long, model gone) shows its message beside the form that sent it,
  // instead of replacing the form's usual target; what the user typed stays where it was.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const source = event.detail.requestConfig && event.detail.requestConfig.elt;
    const form = source && source.closest && source.closest("[data-error-target]");
    if (!form || event.detail.xhr.status < 400) return;
    // Unless the server says where it goes: a message kept over a limit comes back as the conversation showing it
    // (HX-Retarget #chat), with an empty composer, so that the text is not left in the box to be sent twice.
    if (event.detail.xhr.getResponseHeader("HX-Retarget")) return;
    const target = document.querySelector(form.dataset.errorTarget);
    if (target) {
      event.detail.target = target;
      event.detail.swapOverride = "innerHTML";
    }
  });

  // A message that was accepted clears the box and any earlier error.
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-composer") || !event.detail.successful) return;
    const box = form.querySelector("textarea[data-enter-sends]");
    if (box) box.value = "";
    const errors = form.querySelector(".composer-errors");
    if (errors) errors.replaceChildren();
  });

  // Earlier messages just shown above the others (chat/_earlier.html): the focus goes to the first of them, as the
  // control that asked for them is gone; the live region has said how many came.
  document.body.addEventListener("htmx:afterSettle", () => {
    const first = document.querySelector("#messages [data-earlier-first]");
    if (!first) return;
    first.removeAttribute("data-earlier-first");
    first.focus();
  });

  // One reply at a time: Send waits while a reply is being written, and the page follows the newest message.
  const update = () => {
    const send = document.querySelector("form[data-composer] button[type=submit]");
    if (send) send.disabled = Boolean(document.querySelector("#messages [data-status=pending]"));
    const messages = document.getElementById("messages");
    const last = messages && messages.lastElementChild;
    if (last && last.dataset.status === "pending") last.scrollIntoView({ block: "end" });
  };
  document.body.addEventListener("htmx:afterSettle", update);
  document.body.addEventListener("htmx:sseMessage", update);
  document.addEventListener("DOMContentLoaded", update);
  update();
})();
