// One file sent as the upload and import pages send it: a multipart POST of the CSRF token and the file, asking
// for the server's fragment (errors included) instead of a whole page, as htmx requests do. The page says what
// each moment shows: `progress(percent)` while the file goes up (whole percent, when the browser knows the
// size), `sent()` once it is all up, `load(html)` with the answer, `error()` and `abort()` when it never comes.
"use strict";

window.Workbench = window.Workbench || {};
window.Workbench.sendFile = (url, csrfToken, file, on) => {
  const body = new FormData();
  body.append("csrf_token", csrfToken);
  body.append("file", file, file.name);
  const request = new XMLHttpRequest();
  request.open("POST", url);
  request.setRequestHeader("HX-Request", "true");
  request.setRequestHeader("X-CSRFToken", csrfToken);
  request.upload.addEventListener("progress", (event) => {
    if (!event.lengthComputable) return;
    on.progress(Math.round((event.loaded / event.total) * 100));
  });
  if (on.sent) request.upload.addEventListener("load", on.sent);
  request.addEventListener("load", () => on.load(request.responseText));
  request.addEventListener("error", on.error);
  request.addEventListener("abort", on.abort);
  request.send(body);
  return request;
};
