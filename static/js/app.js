// Workbench's own script. Served from /static so the Content-Security-Policy can forbid inline scripts.
"use strict";

// Buttons with data-confirm ask before their form is submitted (deletes, revokes, deactivations).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
}, true);

// htmx requests that ask for a confirmation use hx-confirm; nothing else is needed here for now.

// A button with data-copy="ID" copies the value of the field ID (a share link); data-copied names the status
// element that says so (for screen readers too). Without clipboard access, the field's text is selected instead.
document.addEventListener("click", async (event) => {
  const button = event.target instanceof Element && event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.copied || "");
  if (!field) return;
  try {
    await navigator.clipboard.writeText(field.value);
    if (status) status.textContent = "Copied.";
  } catch (error) {
    field.focus();
    field.select();
    if (status) status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
  }
});
