// Work pages (inbox, import, portal): small additions to what htmx does.
(function () {
  "use strict";

  // A refused decision or portal action comes back as its row with the reason (403, 404, 409):
  // put it in place instead of the generic error toast.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    var elt = evt.detail.elt;
    if (!xhr || !elt || !elt.closest) return;
    var inRow = elt.closest(".task, .portal-table tr");
    var isRow = /^\s*<(li|tr)\b/i.test(xhr.responseText || "");
    if (inRow && isRow && [403, 409, 422].indexOf(xhr.status) !== -1) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  // After a swap, move the focus to the new row's message (or the row) so that keyboard and
  // screen reader users hear what happened.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || !target.id) return;
    var row = document.getElementById(target.id);
    if (!row || !row.matches(".task, .portal-table tr")) return;
    var focus = row.querySelector("details[open] input:not([type=hidden]), details[open] textarea");
    if (focus) { focus.focus(); return; }
    var link = row.querySelector("a");
    if (link) link.focus();
  });

  // Check a chosen file's size before uploading it: the server's body limit would refuse it
  // only after the whole upload.
  document.addEventListener("change", function (evt) {
    var input = evt.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
    var problem = input.form.querySelector("[data-file-problem]");
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    var tooLarge = input.files && input.files[0] && input.files[0].size > max;
    input.setCustomValidity(tooLarge ? input.getAttribute("data-too-large") : "");
    if (problem) {
      problem.textContent = tooLarge ? input.getAttribute("data-too-large") : "";
      problem.hidden = !tooLarge;
    }
  });

  document.addEventListener("submit", function (evt) {
    var input = evt.target.querySelector && evt.target.querySelector("input[type=file][data-max-bytes]");
    if (input && input.validationMessage) {
      evt.preventDefault();
      var problem = evt.target.querySelector("[data-file-problem]");
      if (problem) { problem.hidden = false; problem.textContent = input.validationMessage; }
    }
  });
})();
