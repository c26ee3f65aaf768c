// The upload page: several files at once, a drop zone, a progress bar per file, results without a reload.
// Without this script the form still posts all files at once and the page lists what happened to each.
"use strict";

(() => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = form.querySelector('input[type="file"]');
  const dropZone = document.getElementById("drop-zone");
  const list = document.getElementById("upload-list");
  const csrfToken = form.querySelector('input[name="csrf_token"]').value;
  const maxBytes = Number(form.dataset.maxBytes);
  const maxMegabytes = form.dataset.maxMb;
  const queue = [];
  let busy = false;

  function row(file) {
    const item = document.createElement("li");
    item.className = "upload-item upload-pending";
    const name = document.createElement("strong");
    name.className = "upload-name";
    name.textContent = file.name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", `Upload progress of ${file.name}`);
    const status = document.createElement("small");
    status.className = "upload-status";
    status.textContent = "Waiting…";
    item.append(name, progress, status);
    list.prepend(item);
    return { item, progress, status };
  }

  function fail(parts, message) {
    parts.item.className = "upload-item upload-failed";
    parts.progress.remove();
    parts.status.remove();
    const box = document.createElement("div");
    box.className = "error-message";
    box.setAttribute("role", "alert");
    box.textContent = message;
    parts.item.append(box);
  }

  // The server answers with the same fragment a plain post shows: an <li> per file, or an error box.
  function showResponse(parts, html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const outcome = template.content.querySelector("li.upload-item");
    if (outcome) {
      parts.item.replaceWith(outcome);
      if (window.htmx) window.htmx.process(outcome);
      return;
    }
    parts.item.className = "upload-item upload-failed";
    parts.progress.remove();
    parts.status.remove();
    parts.item.append(template.content);
  }

  function send(file, parts) {
    return new Promise((resolve) => {
      parts.status.textContent = "0%";
      window.Workbench.sendFile(form.action, csrfToken, file, {
        progress: (percent) => {
          parts.progress.value = percent;
          parts.status.textContent = percent < 100 ? `${percent}%` : "Checking…";
        },
        load: (html) => {
          showResponse(parts, html);
          resolve();
        },
        error: () => {
          fail(parts, "The connection failed before the upload finished. Check your network and try again.");
          resolve();
        },
        abort: () => {
          fail(parts, "The upload was cancelled.");
          resolve();
        },
      });
    });
  }

  async function drain() {
    if (busy) return;
    busy = true;
    while (queue.length) {
      const { file, parts } = queue.shift();
      await send(file, parts);
    }
    busy = false;
  }

  function enqueue(files) {
    for (const file of files) {
      const parts = row(file);
      if (file.size > maxBytes) {
        // The server refuses it too (413); saying so now spares sending it.
        fail(parts, `${file.name} was not uploaded. This file is larger than the ${maxMegabytes} MB limit.`);
        continue;
      }
      queue.push({ file, parts });
    }
    drain();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.files.length) {
      input.focus();
      return;
    }
    enqueue(Array.from(input.files));
    form.reset();
  });

  // Uploading as soon as files are chosen or dropped: one step fewer for the person.
  input.addEventListener("change", () => {
    if (input.files.length) {
      enqueue(Array.from(input.files));
      form.reset();
    }
  });

  for (const name of ["dragenter", "dragover"]) {
    dropZone.addEventListener(name, (event) => {
      event.preventDefault();
      dropZone.classList.add("drop-active");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    dropZone.addEventListener(name, () => dropZone.classList.remove("drop-active"));
  }
  // A file dropped beside the zone would otherwise make the browser leave the page to show it.
  for (const name of ["dragover", "drop"]) {
    document.addEventListener(name, (event) => {
      if (!dropZone.contains(event.target)) event.preventDefault();
    });
  }
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      enqueue(Array.from(event.dataTransfer.files));
    }
  });
})();
