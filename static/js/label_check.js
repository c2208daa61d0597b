// The label check: a click on the image zooms; in the suggested-label field, Enter
// answers "wrong" (the field only means something with it). The r / w keys are routed
// by eyeball.js from the buttons' data-key.
(function () {
  "use strict";

  var form = document.getElementById("check-form");
  if (!form) return;
  var suggested = document.getElementById("f-suggested_label");
  if (suggested && document.getElementById("project-labels")) suggested.setAttribute("list", "project-labels");

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-zoom]")) Eyeball.zoom();
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target === suggested && event.key === "Enter") {
      event.preventDefault();
      document.getElementById("label-wrong").click();
      return;
    }
    if (event.target.closest && event.target.closest("input, textarea, select")) return;
    if (event.key === "z") { Eyeball.zoom(); event.preventDefault(); }
    else if (event.key === "t" && suggested) { suggested.focus(); event.preventDefault(); }
  });
})();
