// A sample's image on the review screen and the label check: zoom (key z, or a click).
var Eyeball = window.Eyeball || (window.Eyeball = {});
(function () {
  "use strict";

  // Zoomed: a large image at its full resolution (scroll to pan); a tiny one at the
  // largest whole multiple that fits, so every pixel is a crisp square.
  Eyeball.zoom = function () {
    var button = document.getElementById("zoom");
    var img = document.getElementById("media-image");
    if (!button || !img) return;
    var frame = document.getElementById("media");
    var on = button.getAttribute("aria-pressed") !== "true";
    if (on) {
      var caption = frame.querySelector("figcaption");
      var room = frame.clientHeight - (caption ? caption.offsetHeight : 0);
      var fit = Math.min(frame.clientWidth / img.naturalWidth, room / img.naturalHeight);
      var scale = Math.max(1, Math.floor(fit));
      img.width = img.naturalWidth * scale;
      img.height = img.naturalHeight * scale;
    } else {
      img.width = img.naturalWidth;
      img.height = img.naturalHeight;
    }
    button.setAttribute("aria-pressed", on ? "true" : "false");
    frame.classList.toggle("zoomed", on);
  };
})();
