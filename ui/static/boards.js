// Kanban boards (SortableJS) and dashboards (ECharts). Pages work without this file: cards
// move through their "Move to" form and dashboards show their numbers in tables.
(function () {
  "use strict";

  var toast = function (message, kind) {
    if (window.appblocksToast) window.appblocksToast(message, kind);
  };
  var csrf = function () {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  // --- kanban ---------------------------------------------------------------------------------

  function setCounts(board, counts) {
    Object.keys(counts || {}).forEach(function (value) {
      board.querySelectorAll("[data-count]").forEach(function (badge) {
        if (badge.getAttribute("data-count") === value) badge.textContent = counts[value];
      });
    });
  }

  function column(board, value) {
    var found = null;
    board.querySelectorAll(".board-cards").forEach(function (list) {
      if (list.getAttribute("data-group") === value) found = list;
    });
    return found;
  }

  function askComment(step) {
    var dialog = document.getElementById("board-comment");
    if (!dialog || !dialog.showModal) {
      var text = window.prompt(step);
      return Promise.resolve(text && text.trim() ? text.trim() : null);
    }
    var area = dialog.querySelector("textarea");
    dialog.querySelector(".board-dialog-step").textContent = step;
    area.value = "";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function done() {
        dialog.removeEventListener("close", done);
        var text = area.value.trim();
        resolve(dialog.returnValue === "ok" && text ? text : null);
      });
      dialog.showModal();
      area.focus();
    });
  }

  // POST the move; resolves true when the record moved (after a comment, if one was asked).
  function postMove(board, card, to, comment) {
    var body = new FormData();
    body.append("id", card.getAttribute("data-id"));
    body.append("version", card.getAttribute("data-version"));
    body.append("to", to);
    if (comment) body.append("comment", comment);
    card.classList.add("board-busy");
    return fetch(board.getAttribute("data-move-url"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf() }
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false, message: response.status + " " + response.statusText }; });
    }).then(function (answer) {
      card.classList.remove("board-busy");
      if (answer.ok) {
        card.setAttribute("data-version", answer.version);
        card.setAttribute("data-group", to);
        var version = card.querySelector('input[name="version"]');
        if (version) version.value = answer.version;
        var select = card.querySelector('select[name="to"]');
        if (select) select.value = to;
        setCounts(board, answer.counts);
        toast(answer.message, "success");
        return true;
      }
      if (answer.comment_required && !comment) {
        return askComment(answer.message).then(function (text) {
          return text ? postMove(board, card, to, text) : false;
        });
      }
      toast(answer.message, "error");
      return false;
    }, function () {
      card.classList.remove("board-busy");
      toast(document.documentElement.lang === "zh-CN" ? "无法连接服务器。" : "The server cannot be reached.", "error");
      return false;
    });
  }

  function putBack(card, list, index) {
    list.insertBefore(card, list.children[index] || null);
    var select = card.querySelector('select[name="to"]');
    if (select) select.value = card.getAttribute("data-group");
  }

  function setUpBoard(board) {
    if (window.Sortable) {
      board.querySelectorAll(".board-cards").forEach(function (list) {
        window.Sortable.create(list, {
          group: "board",
          draggable: ".board-card",
          filter: "select, button, option",
          preventOnFilter: false,
          ghostClass: "board-ghost",
          // Pointer events rather than native drag and drop: the same on mouse, touch and pen.
          forceFallback: true,
          fallbackOnBody: true,
          animation: 120,
          onEnd: function (evt) {
            if (evt.from === evt.to) return;
            var card = evt.item;
            postMove(board, card, evt.to.getAttribute("data-group")).then(function (moved) {
              if (!moved) putBack(card, evt.from, evt.oldIndex);
            });
          }
        });
      });
    }
    // The keyboard way: each card's "Move to" form, sent without leaving the page.
    board.addEventListener("submit", function (evt) {
      var form = evt.target.closest(".board-move");
      if (!form) return;
      evt.preventDefault();
      var card = form.closest(".board-card");
      var to = form.querySelector('select[name="to"]').value;
      if (to === card.getAttribute("data-group")) return;
      var from = card.parentNode;
      var index = Array.prototype.indexOf.call(from.children, card);
      postMove(board, card, to).then(function (moved) {
        var target = column(board, to);
        if (moved && target) {
          target.insertBefore(card, target.firstChild);
          card.querySelector('select[name="to"]').focus();
        } else if (!moved) {
          putBack(card, from, index);
        }
      });
    });
  }

  // --- dashboards -----------------------------------------------------------------------------

  var PALETTE = ["#2457d6", "#12a37f", "#f59f00", "#e8590c", "#7048e8", "#0c8599", "#c2255c", "#5c940d"];

  function formatter(kind, locale) {
    var compact = new Intl.NumberFormat(locale, { notation: "compact", maximumFractionDigits: 1 });
    if (kind === "money") {
      var money = new Intl.NumberFormat(locale, { style: "currency", currency: "CNY", notation: "compact", maximumFractionDigits: 1 });
      return function (v) { return money.format(v); };
    }
    if (kind === "percent") return function (v) { return compact.format(v) + "%"; };
    return function (v) { return compact.format(v); };
  }

  function options(data, locale, width) {
    var fmt = formatter(data.kind, locale);
    if (data.chart === "gauge") {
      var top = data.max || Math.max(10, Math.pow(10, Math.ceil(Math.log10(Math.abs(data.value) || 1))));
      return {
        series: [{
          type: "gauge", min: 0, max: top, progress: { show: true, width: 14 },
          axisLine: { lineStyle: { width: 14 } }, splitNumber: top <= 10 && top % 1 === 0 ? top : 4,
          axisLabel: { formatter: function (v) { return fmt(v); }, distance: 18, fontSize: 10 },
          pointer: { width: 4 }, title: { show: false },
          detail: { valueAnimation: false, formatter: function () { return data.text; }, fontSize: 22, offsetCenter: [0, "70%"] },
          data: [{ value: data.value, name: data.name }]
        }],
        color: PALETTE
      };
    }
    var many = data.series.length > 1;
    var tooltipText = function (s, i) { return data.series[s].texts[i] || "–"; };
    if (data.chart === "pie" || data.chart === "funnel") {
      var first = data.series[0];
      var items = data.labels.map(function (label, i) { return { name: label, value: first.values[i] }; })
        .filter(function (item) { return item.value !== null; });
      var tip = function (p) { return p.marker + p.name + ": " + (first.texts[data.labels.indexOf(p.name)] || "") + " (" + p.percent + "%)"; };
      if (data.chart === "pie") {
        return {
          color: PALETTE, tooltip: { trigger: "item", formatter: tip },
          legend: { type: "scroll", bottom: 0, itemWidth: 12, itemHeight: 10, itemGap: 8 },
          // Names beside the slices where there is room; in a narrow card the legend names them.
          series: [{ type: "pie", radius: width >= 460 ? ["34%", "60%"] : ["36%", "64%"], center: ["50%", "45%"], data: items,
            label: width >= 460 ? { formatter: "{b}\n{d}%", overflow: "truncate", width: 110 } : { position: "inside", formatter: "{d}%", color: "#fff" },
            labelLine: { show: width >= 460 } }]
        };
      }
      return {
        color: PALETTE, tooltip: { trigger: "item", formatter: function (p) { return p.marker + p.name + ": " + (first.texts[data.labels.indexOf(p.name)] || ""); } },
        series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", top: 10, bottom: 10, gap: 2, data: items,
          label: { position: "inside", formatter: function (p) { return p.name + "  " + (first.texts[data.labels.indexOf(p.name)] || ""); }, color: "#fff", textBorderColor: "rgba(0,0,0,.35)", textBorderWidth: 2 } }]
      };
    }
    return {
      color: PALETTE,
      grid: { left: 8, right: 16, top: many ? 34 : 16, bottom: 8, containLabel: true },
      legend: many ? { top: 0 } : undefined,
      tooltip: {
        trigger: "axis",
        formatter: function (params) {
          var list = Array.isArray(params) ? params : [params];
          var head = list.length ? list[0].axisValueLabel : "";
          return [head].concat(list.map(function (p) { return p.marker + p.seriesName + ": " + tooltipText(p.seriesIndex, p.dataIndex); })).join("<br>");
        }
      },
      xAxis: { type: "category", data: data.labels, axisLabel: { interval: 0, rotate: data.labels.length > 5 ? 30 : 0, width: 110, overflow: "truncate" } },
      yAxis: { type: "value", axisLabel: { formatter: function (v) { return fmt(v); } } },
      series: data.series.map(function (s) {
        return { type: data.chart === "line" ? "line" : "bar", name: s.name, data: s.values, smooth: data.chart === "line", connectNulls: true, barMaxWidth: 42 };
      })
    };
  }

  function setUpDashboard(grid) {
    if (!window.echarts) return;
    var locale = grid.getAttribute("data-locale") || "en";
    var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var charts = [];
    grid.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var chart = window.echarts.init(el, null, { renderer: "canvas", locale: locale === "zh-CN" ? "ZH" : "EN" });
      var option = options(data, locale, el.clientWidth);
      option.animation = !still;
      chart.setOption(option);
      el.setAttribute("data-rendered", "true");
      charts.push(chart);
    });
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 120);
    });
  }

  function start() {
    document.querySelectorAll("[data-board]").forEach(setUpBoard);
    document.querySelectorAll("[data-dashboard]").forEach(setUpDashboard);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
