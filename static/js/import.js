// The import page: the export is sent with a progress bar (upload progress, then "Importing…" while the server
// reads it), and the outcome replaces the bar. Without this script the form posts and the page shows the outcome.
"use strict";

(() => {
  const form = document.getElementById("import-form");
  if (!form) return;
  const input = form.querySelector('input[type="file"]');
  const button = document.getElementById("import-button");
  const progress = document.getElementById("import-progress");
  const bar = document.getElementById("import-bar");
  const text = document.getElementById("import-progress-text");
  const outcome = document.getElementById("import-outcome");
  const csrfToken = form.querySelector('input[name="csrf_token"]').value;
  const maxBytes = Number(form.dataset.maxBytes);

  function showOutcome(html) {
    progress.hidden = true;
    outcome.innerHTML = html;
    button.disabled = false;
    input.disabled = false;
  }

  function refuse(message) {
    const box = document.createElement("div");
    box.className = "error-message";
    box.setAttribute("role", "alert");
    box.textContent = message;
    progress.hidden = true;
    outcome.replaceChildren(box);
    button.disabled = false;
    input.disabled = false;
  }

  function send(file) {
    if (file.size > maxBytes) {
      // The server refuses it too (413); saying so now spares sending it.
      refuse(`${file.name} is larger than the ${form.dataset.maxMb} MB an import can be. Nothing was imported.`);
      return;
    }
    outcome.replaceChildren();
    bar.value = 0;
    text.textContent = `Uploading ${file.name}: 0%`;
    progress.hidden = false;
    button.disabled = true;
    input.disabled = true;
    const importing = () => {
      bar.removeAttribute("value"); // indeterminate: the server is reading the conversations
      text.textContent = `Importing ${file.name}…`;
    };
    window.Workbench.sendFile(form.action, csrfToken, file, {
      progress: (percent) => {
        if (percent < 100) {
          bar.value = percent;
          text.textContent = `Uploading ${file.name}: ${percent}%`;
        } else {
          importing();
        }
      },
      sent: importing,
      load: showOutcome,
      error: () => refuse("The connection failed before the import finished. Check your network and try again."),
      abort: () => refuse("The import was cancelled."),
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.files.length) {
      input.focus();
      return;
    }
    send(input.files[0]);
  });
})();
