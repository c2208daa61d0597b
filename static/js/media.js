// A sample's image on the review screen and the label check: zoom (key z, or a click).
var Eyeball = window.Eyeball || (window.Eyeball = {});
(function () {
  "use strict";

  // Zoomed: a large image at its full resolution (scroll to pan); a small one at the
  // smallest whole multiple of its pixels at least as large as it is shown unzoomed, so
  // every pixel is a crisp square and zooming never shrinks it (rounding down did).
  Eyeball.zoom = function () {
    var button = document.getElementById("zoom");
    var img = document.getElementById("media-image");
    if (!button || !img) return;
    var frame = document.getElementById("media");
    var on = button.getAttribute("aria-pressed") !== "true";
    if (on) {
      // Unzoomed the image fills its box, scaled to fit ("object-fit: contain").
      var shown = Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight);
      var scale = Math.max(1, Math.ceil(shown));
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
