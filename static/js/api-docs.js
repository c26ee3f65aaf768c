// Starts Swagger UI on /api/docs. A file of its own so the Content-Security-Policy can forbid inline scripts.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const target = document.getElementById("api-docs");
  window.SwaggerUIBundle({
    url: target.dataset.documentUrl,
    domNode: target,
    deepLinking: false,
    // The document is the app's own: no "validator" badge calling an outside service.
    validatorUrl: null,
    tryItOutEnabled: false,
    // The highlighter's colours (inline styles) fail contrast; plain text reads as well.
    syntaxHighlight: false,
    persistAuthorization: false,
  });
});
