// List pages: selection, the bulk delete dialog, the column chooser, link autocomplete.
// Everything here is an enhancement: each control also works as a plain link or form.
(function () {
  "use strict";

  function rowBoxes(root) {
    return Array.prototype.slice.call((root || document).querySelectorAll('#list-rows input[name="id"]'));
  }

  // "N selected" next to the bulk actions, and the state of "select all on this page".
  function refreshSelection() {
    var boxes = rowBoxes();
    var chosen = boxes.filter(function (b) { return b.checked; }).length;
    var count = document.getElementById("bulk-count");
    if (count) {
      if (!count.dataset.idle) count.dataset.idle = count.textContent;
      count.textContent = chosen ? count.dataset.template.replace("{n}", chosen) : count.dataset.idle;
    }
    var all = document.querySelector("[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && chosen === boxes.length;
      all.indeterminate = chosen > 0 && chosen < boxes.length;
    }
  }

  document.addEventListener("change", function (evt) {
    var el = evt.target;
    if (el.matches && el.matches("[data-select-all]")) {
      rowBoxes().forEach(function (b) { b.checked = el.checked; });
    }
    if (el.matches && (el.matches("[data-select-all]") || el.matches('#list-rows input[name="id"]'))) {
      refreshSelection();
    }
  });

  // The server's confirmation lands in the dialog: open it as a modal.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.id === "bulk-dialog" && !target.open) {
      target.showModal();
      var first = target.querySelector("[autofocus]");
      if (first) first.focus();
    }
    if (target && (target.id === "listing" || target.id === "list-rows")) {
      refreshSelection();
      initChooser();
    }
  });
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var dialog = document.getElementById("bulk-dialog");
    if (dialog && dialog.open && evt.detail.elt && evt.detail.elt.id === "bulk-form") dialog.close();
  });
  document.addEventListener("click", function (evt) {
    var close = evt.target.closest && evt.target.closest("[data-close-dialog]");
    var dialog = close && close.closest("dialog");
    if (dialog) {
      evt.preventDefault();
      dialog.close();
    }
    // Column chooser arrows move the item in place (without JavaScript they submit).
    var move = evt.target.closest && evt.target.closest(".chooser [data-move]");
    if (move) {
      evt.preventDefault();
      var item = move.closest("li");
      var other = move.dataset.move === "up" ? item.previousElementSibling : item.nextElementSibling;
      if (other) {
        if (move.dataset.move === "up") item.parentNode.insertBefore(item, other);
        else item.parentNode.insertBefore(other, item);
        move.focus();
      }
    }
  });

  // Drag and drop in the column chooser (SortableJS), keeping the arrows for keyboards.
  function initChooser() {
    if (!window.Sortable) return;
    document.querySelectorAll(".chooser[data-sortable]").forEach(function (list) {
      if (list.dataset.sortableReady) return;
      list.dataset.sortableReady = "1";
      window.Sortable.create(list, { handle: ".drag", animation: 120 });
    });
  }

  // Link filters: the titles that match what was typed so far, as the input's datalist.
  var pending = null;
  document.addEventListener("input", function (evt) {
    var input = evt.target;
    if (!input.matches || !input.matches("input[data-options]")) return;
    clearTimeout(pending);
    pending = setTimeout(function () { loadOptions(input); }, 200);
  });
  document.addEventListener("focusin", function (evt) {
    var input = evt.target;
    if (input.matches && input.matches("input[data-options]") && !input.dataset.loaded) loadOptions(input);
  });
  function loadOptions(input) {
    input.dataset.loaded = "1";
    var list = document.getElementById(input.getAttribute("list"));
    if (!list) return;
    fetch(input.dataset.options + "&q=" + encodeURIComponent(input.value), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { list.innerHTML = html; })
      .catch(function () { /* autocomplete is a convenience */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    refreshSelection();
    initChooser();
  });
})();

// Changing a filter's operator reloads its row (the value input may change shape); what the
// user typed into the value meanwhile must survive the swap.
(function () {
  "use strict";
  var typed = {};
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var row = evt.detail.target;
    var trigger = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    if (!row || !row.classList || !row.classList.contains("filter-row")) return;
    if (!trigger || !trigger.classList || !trigger.classList.contains("filter-op")) return;
    var kept = {};
    row.querySelectorAll("input[name^='v.'], input[name^='v2.']").forEach(function (el) {
      if (el.value) kept[el.name] = el.value;
    });
    typed[row.id] = kept;
  });
  // As soon as the new row is in (not at settle: a click meanwhile would submit it empty).
  function restore() {
    Object.keys(typed).forEach(function (id) {
      var row = document.getElementById(id);
      var kept = typed[id];
      delete typed[id];
      if (!row) return;
      Object.keys(kept).forEach(function (name) {
        var input = row.querySelector("input[name='" + name + "']");
        if (input && !input.value) input.value = kept[name];
      });
    });
  }
  document.addEventListener("htmx:afterSwap", restore);
  document.addEventListener("htmx:afterSettle", restore);
})();
