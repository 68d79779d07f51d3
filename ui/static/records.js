// Record pages and generated forms: dialogs, link lookups (a keyboard-driven combobox), the
// line-item editor (add and remove rows), file inputs. Computed values are never worked out
// here: the form asks the server (htmx, `recalc`), which runs the engine's formulas.
(function () {
  "use strict";

  var zh = document.documentElement.lang === "zh-CN";
  function t(en, cn) { return zh ? cn : en; }

  function recalc(el) {
    var form = el && el.closest ? el.closest("form") : null;
    if (form) form.dispatchEvent(new CustomEvent("recalc"));
  }

  // --- dialogs: a comment for a transition or a rejection, the delete confirmation ---------------
  var opener = null;
  document.addEventListener("click", function (evt) {
    var open = evt.target.closest("[data-open-dialog]");
    if (open) {
      var dialog = document.getElementById(open.getAttribute("data-open-dialog"));
      if (dialog && dialog.showModal) {
        opener = open;
        dialog.showModal();
        var first = dialog.querySelector("textarea, input:not([type=hidden]), button");
        if (first) first.focus();
      }
      return;
    }
    var close = evt.target.closest("[data-close-dialog]");
    if (close && close.closest("dialog")) close.closest("dialog").close();
  });
  document.addEventListener("close", function (evt) {
    if (evt.target.tagName === "DIALOG" && opener) { opener.focus(); opener = null; }
  }, true);

  // --- the line-item editor ------------------------------------------------------------------
  function renumber(body) {
    Array.prototype.forEach.call(body.querySelectorAll("tr[data-row]"), function (row, i) {
      var no = row.querySelector("[data-row-no]");
      if (no) no.textContent = String(i + 1);
    });
  }

  function firstInput(row) {
    return row.querySelector("input:not([type=hidden]):not([disabled]), select, textarea");
  }

  function addLine(name) {
    var table = document.querySelector('table[data-lines="' + name + '"]');
    var template = document.querySelector('template[data-line-template="' + name + '"]');
    if (!table || !template) return;
    var next = parseInt(table.getAttribute("data-next"), 10) || 0;
    table.setAttribute("data-next", String(next + 1));
    var body = table.tBodies[0];
    body.insertAdjacentHTML("beforeend", template.innerHTML.split("__i__").join(String(next)));
    var row = body.lastElementChild;
    if (window.htmx) window.htmx.process(row);
    renumber(body);
    var input = firstInput(row);
    if (input) input.focus();
  }

  function removeLine(row) {
    var body = row.parentNode;
    var table = body.closest("table");
    var next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumber(body);
    recalc(table);
    // The focus stays where the keyboard was: on a neighbour's remove button (a lookup input
    // would open its suggestions), else on "Add line".
    var target = next ? next.querySelector("[data-remove-line]") : null;
    if (!target) target = document.querySelector('[data-add-line="' + table.getAttribute("data-lines") + '"]');
    if (target) target.focus();
    window.appblocksToast && window.appblocksToast(t("Line removed.", "已删除该行。"));
  }

  document.addEventListener("click", function (evt) {
    var add = evt.target.closest("[data-add-line]");
    if (add) { evt.preventDefault(); addLine(add.getAttribute("data-add-line")); return; }
    var remove = evt.target.closest("[data-remove-line]");
    if (remove) { evt.preventDefault(); removeLine(remove.closest("tr")); }
  });

  // --- link lookups: type, arrows to move, Enter to choose, Escape to close --------------------
  function listOf(input) { return document.getElementById(input.getAttribute("aria-controls")); }
  function inputOf(list) { return list.parentNode.querySelector("[data-lookup-input]"); }
  function choices(list) {
    return Array.prototype.slice.call(list.querySelectorAll('[role=option]:not([aria-disabled="true"])'));
  }

  function setActive(list, option) {
    var input = inputOf(list);
    choices(list).forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    if (option) {
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function openList(list) {
    list.hidden = false;
    inputOf(list).setAttribute("aria-expanded", "true");
    setActive(list, null);
  }

  function closeList(list) {
    if (!list || list.hidden) return;
    list.hidden = true;
    var input = inputOf(list);
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function pick(list, option) {
    var box = list.closest("[data-lookup]");
    var input = inputOf(list);
    var many = box.getAttribute("data-multiple");
    if (many) {
      var chips = box.querySelector("[data-chips]");
      var exists = chips.querySelector('input[value="' + option.getAttribute("data-id") + '"]');
      if (!exists) {
        var chip = document.createElement("li");
        chip.className = "chip";
        var hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = many; hidden.value = option.getAttribute("data-id");
        var remove = document.createElement("button");
        remove.type = "button"; remove.className = "link"; remove.setAttribute("data-remove-chip", "");
        remove.setAttribute("aria-label", t("Remove ", "移除 ") + option.getAttribute("data-title"));
        remove.textContent = "✕";
        chip.appendChild(hidden);
        chip.appendChild(document.createTextNode(option.getAttribute("data-title") + " "));
        chip.appendChild(remove);
        chips.appendChild(chip);
      }
      input.value = "";
    } else {
      box.querySelector("[data-lookup-id]").value = option.getAttribute("data-id");
      input.value = option.getAttribute("data-title");
      input.removeAttribute("aria-invalid");
    }
    closeList(list);
    input.focus();
    recalc(box);
  }

  document.addEventListener("htmx:afterSwap", function (evt) {
    var list = evt.detail.target;
    if (list && list.matches && list.matches(".lookup-list") && document.activeElement === inputOf(list)) {
      openList(list);
    }
  });

  document.addEventListener("keydown", function (evt) {
    var input = evt.target.closest && evt.target.closest("[data-lookup-input]");
    if (!input) return;
    var list = listOf(input);
    var options = choices(list);
    var current = list.querySelector('[aria-selected="true"]');
    var at = options.indexOf(current);
    if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
      evt.preventDefault();
      if (list.hidden) {
        if (list.children.length) openList(list);
        else if (window.htmx) window.htmx.trigger(input, "focus");
        return;
      }
      var step = evt.key === "ArrowDown" ? 1 : -1;
      var next = at < 0 ? (step > 0 ? 0 : options.length - 1) : Math.min(Math.max(at + step, 0), options.length - 1);
      setActive(list, options[next] || null);
    } else if (evt.key === "Enter") {
      if (!list.hidden) {
        evt.preventDefault(); // choosing must not submit the form
        var chosen = current || (options.length === 1 ? options[0] : null);
        if (chosen) pick(list, chosen);
      }
    } else if (evt.key === "Escape") {
      if (!list.hidden) { evt.preventDefault(); evt.stopPropagation(); closeList(list); }
    } else if (evt.key === "Tab") {
      closeList(list);
    }
  });

  document.addEventListener("input", function (evt) {
    var input = evt.target.closest && evt.target.closest("[data-lookup-input]");
    if (!input) return;
    var box = input.closest("[data-lookup]");
    var id = box.querySelector("[data-lookup-id]");
    if (id && id.value) { id.value = ""; } // the text no longer names the chosen record
  });

  document.addEventListener("mousedown", function (evt) {
    var option = evt.target.closest && evt.target.closest(".lookup-list [role=option]");
    if (!option) return;
    evt.preventDefault(); // keep the focus in the input
    if (option.getAttribute("aria-disabled") !== "true") pick(option.closest(".lookup-list"), option);
  });

  document.addEventListener("focusout", function (evt) {
    var box = evt.target.closest && evt.target.closest("[data-lookup]");
    if (!box) return;
    setTimeout(function () {
      if (!box.contains(document.activeElement)) closeList(box.querySelector(".lookup-list"));
    }, 0);
  });

  document.addEventListener("click", function (evt) {
    var chip = evt.target.closest("[data-remove-chip]");
    if (chip) {
      var box = chip.closest("[data-lookup]");
      chip.closest(".chip").remove();
      box.querySelector("[data-lookup-input]").focus();
      recalc(box);
    }
    var clear = evt.target.closest("[data-clear-file]");
    if (clear) {
      var holder = clear.closest(".file-input");
      holder.querySelector("[data-file-key]").value = "";
      var current = holder.querySelector("[data-file-current]");
      if (current) current.remove();
      holder.querySelector("input[type=file]").focus();
    }
  });

  // --- files: refuse a file that is too large before it is sent ------------------------------
  function tooLarge(input) {
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    var file = input.files && input.files[0];
    return file && max && file.size > max ? max : 0;
  }

  function fileMessage(input, text) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/);
    var box = null;
    ids.forEach(function (id) {
      var el = id && document.getElementById(id);
      if (el && el.classList.contains("field-errors")) box = el;
    });
    if (box) { box.textContent = text; box.hidden = !text; }
    if (text) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }

  document.addEventListener("change", function (evt) {
    var input = evt.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
    var max = tooLarge(input);
    if (max) {
      var mb = (max / 1048576).toFixed(1);
      fileMessage(input, t("The file is too large: at most " + mb + " MB.", "文件过大：最大 " + mb + " MB。"));
      input.value = "";
    } else {
      fileMessage(input, "");
    }
  });

  // --- after a refused save or action: the messages get the focus -----------------------------
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("error-summary") || document.getElementById("record-error");
    if (summary) summary.focus();
  });
})();
