// appblocks shell behaviour: small, framework-free; htmx does the requests.
(function () {
  "use strict";

  // A toast for messages that have no place on the page (a refused drag, a failed request).
  window.appblocksToast = function (message, kind) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var item = document.createElement("div");
    item.className = "toast " + (kind || "");
    item.setAttribute("role", kind === "error" ? "alert" : "status");
    item.textContent = message;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, kind === "error" ? 8000 : 4000);
  };

  // The text of an error answer: our fragments are <p class="problem">, the API's problem+json.
  window.appblocksProblemText = function (xhr) {
    var text = xhr && xhr.responseText ? xhr.responseText : "";
    try {
      var body = JSON.parse(text);
      var parts = [body.detail || body.title || ""];
      (body.errors || []).forEach(function (e) { if (e.message) parts.push(e.message); });
      return parts.filter(Boolean).join("; ");
    } catch (ignored) { /* not JSON */ }
    var doc = new DOMParser().parseFromString(text, "text/html");
    return (doc.body.textContent || "").trim().slice(0, 500) || (xhr ? xhr.status + " " + xhr.statusText : "");
  };

  document.addEventListener("htmx:responseError", function (evt) {
    window.appblocksToast(window.appblocksProblemText(evt.detail.xhr), "error");
  });
  document.addEventListener("htmx:sendError", function () {
    window.appblocksToast(document.documentElement.lang === "zh-CN" ? "无法连接服务器。" : "The server cannot be reached.", "error");
  });

  // The sign-in form sends the browser's time zone: a user without one of their own gets it.
  function fillTimeZone() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (ignored) { /* old browser */ }
    document.querySelectorAll("input[data-browser-time-zone]").forEach(function (input) {
      if (!input.value) input.value = zone;
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fillTimeZone);
  else fillTimeZone();

  document.addEventListener("change", function (evt) {
    var el = evt.target;
    if (el.matches && el.matches("select[data-autosubmit]")) el.form.requestSubmit();
  });

  document.addEventListener("click", function (evt) {
    var toggle = evt.target.closest && evt.target.closest(".menu-toggle");
    if (toggle) {
      var open = document.body.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
  });

  // Escape closes the phone menu and any open <dialog>.
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape" && document.body.classList.contains("nav-open")) {
      document.body.classList.remove("nav-open");
    }
  });
})();
