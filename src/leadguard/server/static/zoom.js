// Synchronised zoom and pan: every [data-sync-zoom] group moves its images together.
// Mouse wheel or buttons zoom, drag pans; with a viewport focused, + / - zoom, arrows pan, 0 resets.
(function () {
  "use strict";
  function setup(group) {
    var views = Array.prototype.slice.call(group.querySelectorAll(".viewport"));
    var state = { scale: 1, x: 0, y: 0 };
    function apply() {
      views.forEach(function (v) {
        var img = v.querySelector("img");
        if (img) {
          img.style.transform = "translate(" + state.x + "px," + state.y + "px) scale(" + state.scale + ")";
        }
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
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-sync-zoom]").forEach(setup);
  });
})();
