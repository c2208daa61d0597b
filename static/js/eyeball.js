// Eyeball's keyboard layer. Pages declare their shortcuts in markup
// (data-key="x" on a button or link); this file only routes key presses.
(function () {
  "use strict";

  function typingInto(target) {
    if (!target || !target.closest) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  var pendingG = false;

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typingInto(event.target)) {
      event.target.blur();
      return;
    }
    if (typingInto(event.target)) return;

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

  // A sheet row opens its error on the review screen; links inside it keep their own target.
  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey) return;
    if (event.target.closest("a, button, input, select, label")) return;
    var row = event.target.closest("tr[data-href]");
    if (row) window.location.assign(row.getAttribute("data-href"));
  });
})();
