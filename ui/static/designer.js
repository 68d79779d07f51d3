// The designer's drag and drop: SortableJS for lists (field list, palette, form sections),
// pointer events for the relation board. Every drag has a button or select that does the same.
(function () {
  "use strict";

  var zh = document.documentElement.lang === "zh-CN";
  // Mouse-driven dragging (not the browser's native drag and drop): the same on every browser,
  // touch included, and what a test's mouse does is what a person's does.
  var DRAG = { animation: 150, forceFallback: true, fallbackTolerance: 4, ghostClass: "drag-ghost", chosenClass: "drag-chosen" };

  function extend(a, b) { var o = {}; [a, b].forEach(function (s) { for (var k in s) o[k] = s[k]; }); return o; }
  function names(list) {
    return Array.prototype.map.call(list.querySelectorAll(":scope > [data-name]"), function (li) { return li.dataset.name; });
  }

  // --- names from labels: typing "Sales order" proposes sales_order ----------------------------
  function slug(text) {
    var s = (text || "").toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 50);
    if (s && !/^[a-z]/.test(s)) s = "f_" + s;
    return s;
  }
  document.addEventListener("input", function (evt) {
    var source = evt.target.closest && evt.target.closest("[data-slug-source]");
    if (!source) return;
    var target = document.querySelector(source.dataset.slugSource);
    if (!target || target.dataset.touched === "true") return;
    var proposed = slug(source.value);
    if (proposed) target.value = proposed;
  });
  document.addEventListener("input", function (evt) {
    if (evt.target.matches && evt.target.matches("#f-name, #app-name, #entity-name, #link-name")) evt.target.dataset.touched = "true";
  });

  // Forms that ask before they go (discard the draft).
  document.addEventListener("submit", function (evt) {
    var ask = evt.target.dataset && evt.target.dataset.confirm;
    if (ask && !window.confirm(ask)) evt.preventDefault();
  });

  // --- entity designer ------------------------------------------------------------------------
  function initEntity(root) {
    root.querySelectorAll("[data-palette]").forEach(function (palette) {
      if (palette._sortable) return;
      palette._sortable = Sortable.create(palette, extend(DRAG, {
        group: { name: "fields", pull: "clone", put: false }, sort: false,
      }));
    });
    var list = root.querySelector ? (root.id === "field-list" ? root : root.querySelector("#field-list")) : null;
    if (!list || list._sortable) return;
    list._sortable = Sortable.create(list, extend(DRAG, {
      group: { name: "fields", pull: false, put: true },
      filter: ".row-actions, .placeholder", preventOnFilter: false, draggable: ".field-row",
      onAdd: function (evt) {
        // A type dropped from the palette: open the panel of a new field at that place.
        var type = evt.item.dataset.type;
        var position = 0;
        for (var el = evt.item.previousElementSibling; el; el = el.previousElementSibling) {
          if (el.dataset && el.dataset.name) position += 1;
        }
        var url = list.dataset.panelUrl + "?new=" + encodeURIComponent(type) + "&position=" + position;
        htmx.ajax("GET", url, { target: "#entity-work", swap: "outerHTML" });
      },
      onUpdate: function () {
        var form = document.getElementById("order-form");
        form.querySelectorAll("input[name=order]").forEach(function (i) { i.remove(); });
        names(list).forEach(function (name) {
          var input = document.createElement("input");
          input.type = "hidden"; input.name = "order"; input.value = name;
          form.appendChild(input);
        });
        htmx.trigger(form, "submit");
      },
    }));
  }

  // Where the panel sits under the list (narrow screens), bring it into view when it opens.
  document.addEventListener("htmx:afterSettle", function (evt) {
    var work = evt.detail.elt && evt.detail.elt.id === "entity-work" ? evt.detail.elt : document.getElementById("entity-work");
    if (!work || !window.matchMedia("(max-width: 1200px)").matches) return;
    var form = document.getElementById("field-form");
    if (form && evt.detail.requestConfig && /\/panel/.test(evt.detail.requestConfig.path || "")) {
      document.getElementById("field-panel").scrollIntoView({ block: "start" });
    }
  });

  // --- form designer --------------------------------------------------------------------------
  function formDesigner() { return document.getElementById("form-designer"); }

  function layout() {
    return Array.prototype.map.call(document.querySelectorAll("#sections [data-section]"), function (box) {
      var title = {};
      box.querySelectorAll("[data-title]").forEach(function (i) { if (i.value.trim()) title[i.dataset.title] = i.value.trim(); });
      return { title: title, columns: parseInt(box.querySelector("[data-columns]").value, 10), fields: names(box.querySelector("[data-form-list]")) };
    });
  }

  function saveLayout() {
    refreshMenus();
    var input = document.getElementById("layout-input");
    if (!input) return;
    input.value = JSON.stringify(layout());
    htmx.trigger(document.getElementById("layout-form"), "submit");
  }

  function refreshMenus() {
    var root = formDesigner();
    if (!root) return;
    var boxes = root.querySelectorAll("#sections [data-section]");
    root.querySelectorAll("[data-to-section]").forEach(function (select) {
      var li = select.closest("[data-name]");
      var here = li.closest("[data-section]");
      select.innerHTML = "";
      var first = new Option(root.dataset.toLabel, "");
      select.add(first);
      boxes.forEach(function (box, i) {
        if (box === here) return;
        var title = (box.querySelector("[data-title='" + (zh ? "zh-CN" : "en") + "']") || {}).value || (box.querySelector("[data-title]") || {}).value;
        select.add(new Option(root.dataset.sectionLabel + " " + (i + 1) + (title ? ": " + title : ""), String(i)));
      });
      if (here) select.add(new Option(root.dataset.offLabel, "off"));
    });
    root.querySelectorAll("[data-form-list]").forEach(function (list) {
      list.classList.toggle("is-empty", !list.querySelector("[data-name]"));
    });
  }

  function initFormLists(root) {
    root.querySelectorAll("[data-form-list]").forEach(function (list) {
      if (list._sortable) return;
      list._sortable = Sortable.create(list, extend(DRAG, {
        group: "form-fields", filter: ".chip-actions", preventOnFilter: false,
        onSort: function (evt) {
          // onSort fires in both lists of a move between them: save once, from the receiver.
          if (evt.from !== evt.to && evt.to !== list) return;
          saveLayout();
        },
      }));
    });
    refreshMenus();
  }

  document.addEventListener("click", function (evt) {
    var root = formDesigner();
    if (!root) return;
    var button = evt.target.closest("button");
    if (!button || !root.contains(button)) return;
    var li = button.closest("[data-name]");
    if (button.dataset.move && li) {
      var sibling = button.dataset.move === "-1" ? li.previousElementSibling : li.nextElementSibling;
      if (!sibling) return;
      if (button.dataset.move === "-1") li.parentNode.insertBefore(li, sibling);
      else li.parentNode.insertBefore(sibling, li);
      button.focus();
      saveLayout();
    } else if (button.hasAttribute("data-unplace") && li) {
      document.getElementById("unplaced").appendChild(li);
      saveLayout();
    } else if (button.hasAttribute("data-remove-section")) {
      var box = button.closest("[data-section]");
      box.querySelectorAll("[data-name]").forEach(function (f) { document.getElementById("unplaced").appendChild(f); });
      box.remove();
      saveLayout();
    } else if (button.id === "add-section") {
      var template = document.getElementById("section-template");
      var fresh = template.content.firstElementChild.cloneNode(true);
      button.parentNode.insertBefore(fresh, button);
      initFormLists(fresh);
      refreshMenus();
      fresh.querySelector("[data-title]").focus();
    }
  });
  document.addEventListener("change", function (evt) {
    var root = formDesigner();
    if (!root || !root.contains(evt.target)) return;
    if (evt.target.matches("[data-to-section]")) {
      var li = evt.target.closest("[data-name]");
      var value = evt.target.value;
      if (value === "off") document.getElementById("unplaced").appendChild(li);
      else if (value !== "") root.querySelectorAll("#sections [data-section]")[parseInt(value, 10)].querySelector("[data-form-list]").appendChild(li);
      else return;
      saveLayout();
      var moved = li.querySelector("[data-to-section]");
      if (moved) moved.focus();
    } else if (evt.target.matches("[data-columns]")) {
      var grid = evt.target.closest("[data-section]").querySelector("[data-form-list]");
      grid.className = grid.className.replace(/cols-\d/, "cols-" + evt.target.value);
      saveLayout();
    } else if (evt.target.matches("[data-title]")) {
      saveLayout();
    }
  });

  // --- relation board: drag a card onto another -----------------------------------------------
  function dialog() { return document.getElementById("link-dialog"); }

  function openLink(holder, target) {
    var box = dialog();
    if (!box) return;
    var form = box.querySelector("form");
    form.holder.value = holder;
    if (target) {
      form.target.value = target;
      var card = document.querySelector(".rel-card[data-entity='" + target + "']");
      if (card) {
        form.elements.name.value = card.dataset.name;
        form.label_en.value = card.dataset.labelEn || "";
        form.label_zh.value = card.dataset.labelZh || "";
      }
    } else {
      form.target.value = "";
    }
    box.showModal();
    (target ? form.elements.name : form.target).focus();
  }

  document.addEventListener("change", function (evt) {
    // Choosing the target with the keyboard fills in the name and labels the same way.
    if (evt.target.id !== "link-target") return;
    var card = document.querySelector(".rel-card[data-entity='" + evt.target.value + "']");
    var form = evt.target.form;
    if (card && form.elements.name.dataset.touched !== "true") {
      form.elements.name.value = card.dataset.name;
      form.label_en.value = card.dataset.labelEn || "";
      form.label_zh.value = card.dataset.labelZh || "";
    }
  });

  document.addEventListener("click", function (evt) {
    var link = evt.target.closest && evt.target.closest("[data-link-from]");
    if (link) openLink(link.dataset.linkFrom, "");
    var close = evt.target.closest && evt.target.closest("[data-close-dialog]");
    if (close) {
      evt.preventDefault(); // a Cancel link goes back to the page only without scripts
      close.closest("dialog").close();
    }
  });

  // Dialogs a link or button opens (`data-open-dialog="id"`); without scripts the link's own
  // address shows the page with the dialog open.
  document.addEventListener("click", function (evt) {
    var opener = evt.target.closest && evt.target.closest("[data-open-dialog]");
    var box = opener && document.getElementById(opener.dataset.openDialog);
    if (!box) return;
    evt.preventDefault();
    if (box.open) box.close();
    box.showModal();
  });

  // Near the top or bottom edge of an app's column, the column scrolls (so a card can reach
  // any other while it is held).
  function autoScroll(evt) {
    document.querySelectorAll(".board-col").forEach(function (column) {
      var box = column.getBoundingClientRect();
      if (evt.clientX < box.left || evt.clientX > box.right) return;
      if (evt.clientY > box.top - 10 && evt.clientY < box.top + 40) column.scrollTop -= 14;
      else if (evt.clientY < box.bottom + 10 && evt.clientY > box.bottom - 40) column.scrollTop += 14;
    });
  }

  document.addEventListener("input", function (evt) {
    if (evt.target.id !== "board-filter") return;
    var words = evt.target.value.trim().toLowerCase();
    document.querySelectorAll(".rel-card").forEach(function (card) {
      var text = (card.dataset.label + " " + card.dataset.entity + " " + (card.dataset.labelEn || "")).toLowerCase();
      card.hidden = words !== "" && text.indexOf(words) < 0;
    });
  });

  var drag = null;
  document.addEventListener("pointerdown", function (evt) {
    var card = evt.target.closest && evt.target.closest(".rel-card");
    if (!card || evt.button !== 0 || evt.target.closest("button, a, input, select")) return;
    drag = { card: card, x: evt.clientX, y: evt.clientY, ghost: null, over: null };
  });
  document.addEventListener("pointermove", function (evt) {
    if (!drag) return;
    if (!drag.ghost) {
      if (Math.abs(evt.clientX - drag.x) + Math.abs(evt.clientY - drag.y) < 6) return;
      drag.ghost = drag.card.cloneNode(true);
      drag.ghost.classList.add("rel-ghost");
      drag.ghost.style.width = drag.card.offsetWidth + "px";
      document.body.appendChild(drag.ghost);
      drag.card.classList.add("dragging");
      document.body.classList.add("is-dragging");
    }
    autoScroll(evt);
    drag.ghost.style.left = evt.clientX + 8 + "px";
    drag.ghost.style.top = evt.clientY + 8 + "px";
    var under = document.elementFromPoint(evt.clientX, evt.clientY);
    var over = under && under.closest(".rel-card");
    if (over === drag.card) over = null;
    if (drag.over && drag.over !== over) drag.over.classList.remove("drop-target");
    if (over) over.classList.add("drop-target");
    drag.over = over;
    evt.preventDefault();
  });
  document.addEventListener("pointerup", function () {
    if (!drag) return;
    var done = drag;
    drag = null;
    if (!done.ghost) return;
    done.ghost.remove();
    done.card.classList.remove("dragging");
    document.body.classList.remove("is-dragging");
    if (done.over) {
      done.over.classList.remove("drop-target");
      // Dropped onto `over`: it gets a field pointing at the dragged entity.
      openLink(done.over.dataset.entity, done.card.dataset.entity);
    }
  });

  // --- start ------------------------------------------------------------------------------------
  function init(root) {
    if (typeof Sortable === "undefined") return;
    initEntity(root);
    if (formDesigner()) initFormLists(root.querySelectorAll ? root : document);
  }
  window.addEventListener("DOMContentLoaded", function () {
    init(document);
    // A dialog the server sends open (a refused change, with its messages) opens as a modal.
    document.querySelectorAll("dialog[data-open='true']").forEach(function (box) {
      if (box.open) box.close();
      box.showModal();
    });
    var linked = document.querySelector(".rel-card.just-linked");
    if (linked) {
      // Scroll its app's column only: the page keeps its heading and message in view.
      var column = linked.closest(".board-col");
      column.scrollTop = linked.offsetTop - 60;
    }
    if (window.htmx) htmx.onLoad(function (el) { init(el); });
  });
})();
