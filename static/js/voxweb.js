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

// The device picker: mark its results busy while a search is on the way (the new results arrive un-busy).
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "device-results") { target.setAttribute("aria-busy", "true"); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "device-results" && document.body.contains(target)) {
      target.setAttribute("aria-busy", "false");
    }
  });
  // Say how many devices match now, through a live region that is not itself swapped out.
  document.addEventListener("htmx:afterSettle", function (event) {
    var results = document.getElementById("device-results");
    var announce = document.getElementById("picker-announce");
    if (!results || !announce || !event.detail || event.detail.elt !== results) { return; }
    var count = results.querySelector("[data-announce], .empty");
    announce.textContent = count ? count.textContent.trim() : "";
  });
})();

// Forms marked data-submit-once (the reimage confirmation) are sent once: a double click must not post twice.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-submit-once")) { return; }
    if (form.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
    form.setAttribute("aria-busy", "true");
  });
  // Coming back through the history cache: the page is live again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submit-once]").forEach(function (form) { form.removeAttribute("aria-busy"); });
  });
})();

// Live updates: show whether the page is live, reconnecting or offline, so it never goes stale silently.
(function () {
  "use strict";
  var OFFLINE_AFTER_MS = 20000;
  var offlineTimer = null;

  function setLive(state, text) {
    var el = document.getElementById("live-status");
    if (!el) { return; }
    el.dataset.liveStatus = state;
    el.className = "live live-" + state;
    var label = el.querySelector(".live-text");
    if (label && text) { label.textContent = text; }
  }

  // Connected is not yet live: the server says "live" once it is subscribed to job changes.
  document.addEventListener("htmx:sseOpen", function () {
    if (offlineTimer) { clearTimeout(offlineTimer); offlineTimer = null; }
    setLive("connecting", "connecting…");
  });
  document.addEventListener("htmx:sseError", function () {
    setLive("reconnecting", "reconnecting…");
    if (!offlineTimer) {
      offlineTimer = setTimeout(function () {
        setLive("offline", "offline: this page is not updating; it keeps trying, or reload it");
      }, OFFLINE_AFTER_MS);
    }
  });
  document.addEventListener("htmx:sseClose", function (event) {
    if (event.detail && event.detail.type === "message") { setLive("done", "finished: no more updates"); }
  });
  document.addEventListener("htmx:sseMessage", function (event) {
    if (event.detail && event.detail.type === "live") {
      var paused = String(event.detail.data || "").indexOf("paused") !== -1;
      setLive(paused ? "degraded" : "live", null);
    }
  });
  // Notices of finished jobs can be dismissed.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".notice-close") : null;
    if (button && button.parentElement) { button.parentElement.remove(); }
  });
})();

// The inventory Refresh button comes back to the picker view shown now, which search may have changed since load.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.hasAttribute("data-next-here") && form.elements.namedItem("next")) {
    form.elements.namedItem("next").value = window.location.pathname + window.location.search;
  }
});
