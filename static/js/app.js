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
