// voxweb's small behaviours. No inline scripts anywhere: the Content-Security-Policy forbids them.
(function () {
  "use strict";

  // Put the keyboard on the first field with an error, after a full page load or an htmx swap.
  function focusFirstError(root) {
    var field = (root || document).querySelector("[aria-invalid='true'], .has-error input, .has-error select, .has-error textarea");
    if (field && typeof field.focus === "function") { field.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () { focusFirstError(document); });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.dataset.focusErrors !== undefined) {
      focusFirstError(event.detail.target);
    }
  });
})();
