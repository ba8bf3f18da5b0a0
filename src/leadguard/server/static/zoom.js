// LeadGuard's one script.
// Synchronised zoom and pan: every [data-sync-zoom] group moves its images together.
// Mouse wheel or buttons zoom, drag pans; with a viewport focused, + / - zoom, arrows pan, 0 resets.
// Marks drawn over an image (.zoom-follow, the comparison view's) move with it.
// Crop by dragging: a box dragged on a .cropper's image fills the request form's crop fields
// (#crop_left, #crop_top, #crop_right, #crop_bottom) in the uploaded probe's pixels: the
// image's own pixels plus the cropper's data-crop-origin-x/-y (the crop already applied).
(function () {
  "use strict";
  function setup(group) {
    var views = Array.prototype.slice.call(group.querySelectorAll(".viewport"));
    var state = { scale: 1, x: 0, y: 0 };
    function apply() {
      views.forEach(function (v) {  // the image, and what is drawn over it (.zoom-follow)
        v.querySelectorAll("img, .zoom-follow").forEach(function (el) {
          el.style.transform = "translate(" + state.x + "px," + state.y + "px) scale(" + state.scale + ")";
        });
      });
      group.setAttribute("data-scale", state.scale.toFixed(2));
    }
    function zoom(factor) {
      state.scale = Math.min(16, Math.max(0.1, state.scale * factor));
      apply();
    }
    function pan(dx, dy) { state.x += dx; state.y += dy; apply(); }
    function reset() { state.scale = 1; state.x = 0; state.y = 0; apply(); }
    group.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var what = b.getAttribute("data-zoom");
        if (what === "in") { zoom(1.25); } else if (what === "out") { zoom(0.8); } else { reset(); }
      });
    });
    views.forEach(function (v) {
      var dragging = null;
      v.addEventListener("wheel", function (e) { e.preventDefault(); zoom(e.deltaY < 0 ? 1.1 : 0.9); }, { passive: false });
      v.addEventListener("pointerdown", function (e) { dragging = { x: e.clientX, y: e.clientY }; v.setPointerCapture(e.pointerId); });
      v.addEventListener("pointermove", function (e) {
        if (!dragging) { return; }
        pan(e.clientX - dragging.x, e.clientY - dragging.y);
        dragging = { x: e.clientX, y: e.clientY };
      });
      v.addEventListener("pointerup", function () { dragging = null; });
      v.addEventListener("keydown", function (e) {
        var step = 20, done = true;
        if (e.key === "+" || e.key === "=") { zoom(1.25); }
        else if (e.key === "-") { zoom(0.8); }
        else if (e.key === "0") { reset(); }
        else if (e.key === "ArrowLeft") { pan(step, 0); }
        else if (e.key === "ArrowRight") { pan(-step, 0); }
        else if (e.key === "ArrowUp") { pan(0, step); }
        else if (e.key === "ArrowDown") { pan(0, -step); }
        else { done = false; }
        if (done) { e.preventDefault(); }
      });
    });
    apply();
  }
  function cropper(box) {
    var img = box.querySelector("img"), shown = box.querySelector(".crop-box");
    var ox = parseInt(box.getAttribute("data-crop-origin-x") || "0", 10);
    var oy = parseInt(box.getAttribute("data-crop-origin-y") || "0", 10);
    var start = null;
    function at(e) {  // the pointer in the image's displayed pixels, kept inside it
      var r = img.getBoundingClientRect();
      return { x: Math.min(Math.max(e.clientX - r.left, 0), r.width),
               y: Math.min(Math.max(e.clientY - r.top, 0), r.height) };
    }
    function draw(a, b) {
      shown.hidden = false;
      shown.style.left = Math.min(a.x, b.x) + "px";
      shown.style.top = Math.min(a.y, b.y) + "px";
      shown.style.width = Math.abs(a.x - b.x) + "px";
      shown.style.height = Math.abs(a.y - b.y) + "px";
    }
    function fill(a, b) {
      var r = img.getBoundingClientRect();
      // the probe's pixels: the width and height given (a large probe is shown reduced)
      var w = parseInt(img.getAttribute("width") || "0", 10) || img.naturalWidth;
      var h = parseInt(img.getAttribute("height") || "0", 10) || img.naturalHeight;
      var sx = w / r.width, sy = h / r.height;
      var values = {
        crop_left: ox + Math.round(Math.min(a.x, b.x) * sx),
        crop_top: oy + Math.round(Math.min(a.y, b.y) * sy),
        crop_right: ox + Math.round(Math.max(a.x, b.x) * sx),
        crop_bottom: oy + Math.round(Math.max(a.y, b.y) * sy)
      };
      Object.keys(values).forEach(function (id) {
        var field = document.getElementById(id);
        if (field) { field.value = String(values[id]); }
      });
    }
    box.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      start = at(e);
      box.setPointerCapture(e.pointerId);
    });
    box.addEventListener("pointermove", function (e) { if (start) { draw(start, at(e)); } });
    box.addEventListener("pointerup", function (e) {
      if (!start) { return; }
      var end = at(e);
      if (Math.abs(end.x - start.x) >= 4 && Math.abs(end.y - start.y) >= 4) { draw(start, end); fill(start, end); }
      start = null;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-sync-zoom]").forEach(setup);
    document.querySelectorAll(".cropper").forEach(cropper);
  });
})();
