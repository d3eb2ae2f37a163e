// Keeps the editor's email preview current: shortly after typing stops, the form is
// submitted to the preview frame through the "Update preview" button (its formaction
// and formtarget), so the preview is rendered by the server exactly like the email.
(function () {
  "use strict";
  var form = document.getElementById("content-form");
  var button = document.getElementById("preview-button");
  if (!form || !button || typeof form.requestSubmit !== "function") {
    return;
  }
  var timer = null;
  function refresh() {
    timer = null;
    form.requestSubmit(button);
  }
  function later() {
    if (timer !== null) {
      window.clearTimeout(timer);
    }
    timer = window.setTimeout(refresh, 700);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  refresh();
})();
