// Starts Swagger UI on /api/docs. A file of its own so the Content-Security-Policy can forbid inline scripts.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const target = document.getElementById("api-docs");
  window.SwaggerUIBundle({
    url: target.dataset.documentUrl,
    domNode: target,
    deepLinking: true,
    // The document is the app's own: no "validator" badge calling an outside service.
    validatorUrl: null,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
