// Starts Swagger UI on /api/docs. A file, not an inline script: the page's policy allows
// scripts of this origin only. The OpenAPI document's URL comes from the page.
"use strict";

window.ui = window.SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // Never ask swagger.io to validate the document (an image from another origin).
  validatorUrl: null,
  presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
});
