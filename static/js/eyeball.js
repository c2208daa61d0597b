// Eyeball's keyboard layer. Pages declare their shortcuts in markup
// (data-key="x" on a button or link); this file only routes key presses.
(function () {
  "use strict";

  // Keys belong to a field only while text goes into it: a focused checkbox (a cause
  // toggled by click) leaves them to the page. The review screen asks the same.
  var Eyeball = window.Eyeball || (window.Eyeball = {});
  function typingInto(target) {
    if (!target || !target.closest) return false;
    if (target.matches && target.matches("input[type=checkbox], input[type=radio]")) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }
  Eyeball.typingInto = typingInto;

  // The element a key press is for. A modal dialog that closes with nothing focused
  // before it opened leaves focus on its own button, hidden, until the browser's next
  // rendering moves it to the page: on a loaded machine an Enter pressed just after the
  // shortcuts sheet closed went to that button (and was lost) instead of the page.
  function keyTarget(event) {
    var target = event.target;
    if (target && target.closest && target.closest("dialog:not([open])")) {
      target.blur();
      return document.body;
    }
    return target;
  }
  Eyeball.keyTarget = keyTarget;

  // The one translation layer of the scripts: messages are written in English and
  // looked up in the catalogue the page carries (#eyeball-messages, absent in English).
  // Placeholders are %(name)s, as in the templates and the Python code.
  var catalogue = null;
  function messages() {
    if (catalogue === null) {
      var data = document.getElementById("eyeball-messages");
      catalogue = data ? JSON.parse(data.textContent) : {};
    }
    return catalogue;
  }
  function fill(text, values) {
    return text.replace(/%\((\w+)\)s|%%/g, function (whole, name) {
      if (whole === "%%") return "%";
      return values && name in values ? String(values[name]) : whole;
    });
  }
  Eyeball.gettext = function (message, values) {
    var forms = messages()[message];
    return fill(forms ? forms[0] : message, values);
  };
  // Chinese has one form for every number, English two; %(num)s is the number.
  Eyeball.ngettext = function (singular, plural, num, values) {
    var forms = messages()[singular];
    var all = Object.assign({ num: num.toLocaleString(document.documentElement.lang) }, values || {});
    if (forms) return fill(forms.length === 1 ? forms[0] : forms[num === 1 ? 0 : 1], all);
    return fill(num === 1 ? singular : plural, all);
  };

  var pendingG = false;

  // Copy buttons: data-copy names the element whose text is copied (tokens, passwords).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = Eyeball.gettext("Copied");
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = keyTarget(event);
    if (event.key === "Escape" && typingInto(target)) {
      target.blur();
      return;
    }
    if (typingInto(target)) return;

    var dialog = document.getElementById("shortcuts");
    if (event.key === "?") {
      if (dialog.open) dialog.close(); else dialog.showModal();
      event.preventDefault();
      return;
    }
    if (pendingG) {
      pendingG = false;
      var jump = document.querySelector('[data-go="' + event.key + '"]');
      if (event.key === "p") {
        window.location.assign(document.querySelector(".brand").getAttribute("href"));
        event.preventDefault();
      } else if (jump) {
        jump.click();
        event.preventDefault();
      }
      return;
    }
    if (event.key === "g") {
      pendingG = true;
      return;
    }
    var target = document.querySelector('[data-key="' + CSS.escape(event.key) + '"]');
    if (target) {
      target.click();
      event.preventDefault();
    }
  });

  // Live pages: the server confirms each event-stream subscription; say so on the page
  // (and tests know from it that no committed change can be missed from now on).
  function setLive(event, state) {
    var source = event.target.closest ? event.target.closest("[sse-connect]") : null;
    if (!source) return;
    source.querySelectorAll(".live-status").forEach(function (status) {
      status.setAttribute("data-live", state);
    });
  }
  document.addEventListener("htmx:sseMessage", function (event) {
    if (event.detail && event.detail.type === "subscribed") setLive(event, "on");
  });
  document.addEventListener("htmx:sseError", function (event) { setLive(event, "off"); });

  // A live sheet: after saves in its run, ask for those errors' rows and the footer. The
  // server answers with out-of-band swaps, or with the whole table when the page's rows
  // or columns changed, so the table keeps its scroll position and focus. Saves that
  // arrive while a request is out are asked for together once it is back.
  var pendingRows = new Set();
  var sheetBusy = false;
  function refreshSheet() {
    var table = document.getElementById("sheet-table");
    if (sheetBusy || !pendingRows.size || !table || !table.dataset.liveUrl) return;
    var ids = Array.from(pendingRows);
    pendingRows.clear();
    sheetBusy = true;
    function idsOf(selector, attribute) {
      return Array.from(table.querySelectorAll(selector)).map(function (el) {
        return attribute ? el.getAttribute(attribute) : el.id.slice("error-".length);
      }).join(",");
    }
    var url = table.dataset.liveUrl +
      "&changed=" + ids.join(",") +
      "&shown=" + idsOf("#sheet tbody tr[id^='error-']") +
      "&columns=" + idsOf("#sheet thead th[data-cause]", "data-cause");
    window.htmx.ajax("GET", url, { source: table, swap: "none" }).finally(function () {
      sheetBusy = false;
      refreshSheet();
    });
  }
  document.addEventListener("htmx:sseMessage", function (event) {
    if (!event.detail || event.detail.type !== "annotation") return;
    if (!event.target.classList || !event.target.classList.contains("sheet-live")) return;
    var change;
    try { change = JSON.parse(event.detail.data); } catch (e) { return; }
    if (typeof change.prediction !== "number") return;
    pendingRows.add(change.prediction);
    refreshSheet();
  });

  // A sheet row opens its error on the review screen; links inside it keep their own target.
  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey) return;
    if (event.target.closest("a, button, input, select, label")) return;
    var row = event.target.closest("tr[data-href]");
    if (row) window.location.assign(row.getAttribute("data-href"));
  });
})();
