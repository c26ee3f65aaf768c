// The chat composer's files: chips for the ticked files, and uploads in place (into the library, one request
// per file with a progress bar, as the upload page does), each new file then ticked in the picker.
// Without this script the picker's checkboxes still go with the message.
"use strict";

(() => {
  const csrfToken = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  function chips(form) {
    const list = form.querySelector("#composer-chips");
    if (!list) return;
    list.replaceChildren();
    for (const box of form.querySelectorAll('input[name="file_ids"]:checked')) {
      const chip = document.createElement("li");
      chip.className = "file-chip";
      const name = document.createElement("span");
      name.textContent = box.dataset.fileName || box.value;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "chip-remove secondary outline";
      remove.textContent = "×";
      remove.setAttribute("aria-label", `Remove ${name.textContent}`);
      remove.addEventListener("click", () => {
        box.checked = false;
        chips(form);
      });
      chip.append(name, remove);
      list.append(chip);
    }
  }

  // A file uploaded in place: ticked at the top of the picker.
  function addToPicker(form, id, name) {
    const options = form.querySelector("#attach-options");
    if (!options) return;
    const empty = form.querySelector("#attach-empty");
    if (empty) empty.remove();
    let box = form.querySelector(`#attach-${id}`);
    if (!box) {
      const item = document.createElement("li");
      const label = document.createElement("label");
      label.htmlFor = `attach-${id}`;
      box = document.createElement("input");
      box.type = "checkbox";
      box.name = "file_ids";
      box.id = `attach-${id}`;
      box.value = id;
      box.dataset.fileName = name;
      const text = document.createElement("span");
      text.className = "file-name";
      text.textContent = name;
      label.append(box, " ", text);
      item.append(label);
      options.prepend(item);
    }
    box.checked = true;
    chips(form);
  }

  function upload(form, zone, file) {
    const row = document.createElement("li");
    row.className = "upload-item upload-pending";
    const title = document.createElement("strong");
    title.textContent = file.name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", `Upload progress of ${file.name}`);
    const status = document.createElement("small");
    status.textContent = "0%";
    row.append(title, " ", progress, " ", status);
    zone.querySelector("#attach-uploads").prepend(row);

    const failed = (message) => {
      row.className = "upload-item upload-failed";
      progress.remove();
      status.remove();
      const box = document.createElement("div");
      box.className = "error-message";
      box.setAttribute("role", "alert");
      box.textContent = message;
      row.append(box);
    };
    if (file.size > Number(zone.dataset.maxBytes)) {
      failed(`${file.name} was not uploaded. This file is larger than the ${zone.dataset.maxMb} MB limit.`);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const body = new FormData();
      body.append("csrf_token", csrfToken());
      body.append("file", file, file.name);
      const request = new XMLHttpRequest();
      request.open("POST", zone.dataset.uploadUrl);
      request.setRequestHeader("HX-Request", "true");
      request.setRequestHeader("X-CSRFToken", csrfToken());
      request.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        const percent = Math.round((event.loaded / event.total) * 100);
        progress.value = percent;
        status.textContent = percent < 100 ? `${percent}%` : "Checking and reading…";
      });
      request.addEventListener("load", () => {
        const template = document.createElement("template");
        template.innerHTML = request.responseText.trim();
        const card = template.content.querySelector("article.file-card");
        if (card && request.status < 300) {
          const id = card.id.replace("file-", "");
          const name = card.querySelector(".file-name").textContent;
          row.className = "upload-item upload-done";
          progress.remove();
          status.textContent = "Uploaded and attached.";
          addToPicker(form, id, name);
        } else {
          const message = template.content.querySelector(".error-message");
          failed(message ? message.textContent.trim() : `${file.name} was not uploaded.`);
        }
        resolve();
      });
      request.addEventListener("error", () => {
        failed("The connection failed before the upload finished. Check your network and try again.");
        resolve();
      });
      request.send(body);
    });
  }

  document.addEventListener("change", async (event) => {
    const target = event.target;
    const form = target instanceof HTMLElement && target.closest("form[data-composer]");
    if (!form) return;
    if (target.name === "file_ids") {
      chips(form);
      return;
    }
    const zone = target.closest("[data-attach-upload]");
    if (zone && target.type === "file" && target.files.length) {
      const chosen = Array.from(target.files);
      target.value = "";
      for (const file of chosen) await upload(form, zone, file);
    }
  });

  // A message that was accepted takes its files with it: the next one starts with none.
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-composer") || !event.detail.successful) return;
    for (const box of form.querySelectorAll('input[name="file_ids"]:checked')) box.checked = false;
    const details = form.querySelector("details.attach");
    if (details) details.open = false;
    chips(form);
  });
})();
