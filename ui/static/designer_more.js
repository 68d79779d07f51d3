// The designer's view, dashboard, workflow and role editors: reordering lists by drag
// (SortableJS) or by the arrow buttons, and the toast for a refused matrix change.
(function () {
  "use strict";

  function announce(text) {
    var box = document.getElementById("dm-live");
    if (box) { box.textContent = ""; box.textContent = text; }
  }

  // A list with data-sortable: dragging reorders its items; a data-order-url list also
  // posts the new order (dashboard widgets), a plain one just keeps its inputs in order.
  function postOrder(list) {
    var url = list.getAttribute("data-order-url");
    if (!url || !window.htmx) return;
    var order = Array.prototype.map.call(list.children, function (li) { return li.getAttribute("data-index"); });
    window.htmx.ajax("POST", url, { target: list.getAttribute("data-order-target") || "body", swap: "outerHTML", values: { order: order.join(",") } });
  }

  function initSortables(root) {
    if (!window.Sortable) return;
    (root || document).querySelectorAll("[data-sortable]").forEach(function (list) {
      if (list.dataset.sortableReady) return;
      list.dataset.sortableReady = "1";
      window.Sortable.create(list, {
        animation: 150,
        handle: ".dm-handle",
        onEnd: function (evt) { if (evt.oldIndex !== evt.newIndex) postOrder(list); }
      });
    });
  }

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-move]");
    if (!button) return;
    var item = button.closest("li");
    var list = item && item.parentElement;
    if (!list) return;
    var delta = parseInt(button.getAttribute("data-move"), 10);
    var sibling = delta < 0 ? item.previousElementSibling : item.nextElementSibling;
    if (!sibling) return;
    if (delta < 0) list.insertBefore(item, sibling); else list.insertBefore(sibling, item);
    button.focus();
    var text = item.querySelector(".dm-chip-text");
    var position = Array.prototype.indexOf.call(list.children, item) + 1;
    announce((text ? text.textContent + ": " : "") + position + " / " + list.children.length);
    postOrder(list);
  });

  // A refused change that has no form to show it in (a matrix checkbox) comes as an event.
  document.addEventListener("designer-more-refused", function (evt) {
    var message = evt.detail && evt.detail.value !== undefined ? evt.detail.value : (evt.detail && evt.detail.message);
    if (window.appblocksToast) window.appblocksToast(String(message || ""), "error");
    announce(String(message || ""));
  });

  // The rules panel of the permission matrix: bring it into view and put focus on its title.
  document.addEventListener("htmx:afterSettle", function (evt) {
    var panel = evt.target && evt.target.id === "rule-panel" ? evt.target : null;
    var title = panel && panel.querySelector("#rule-title");
    if (title && evt.detail.requestConfig && evt.detail.requestConfig.verb === "get") {
      title.focus({ preventScroll: true });
      panel.scrollIntoView({ behavior: "smooth", block: "start" });
    }
  });

  document.addEventListener("DOMContentLoaded", function () { initSortables(document); });
  document.addEventListener("htmx:afterSettle", function (evt) { initSortables(evt.target.parentElement || document); });
})();
