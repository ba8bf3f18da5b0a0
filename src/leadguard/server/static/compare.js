// The comparison view (docs/server.md): the eye-aligned pair from the server, shown side by
// side, as an overlay (opacity), flickering (interval) or wiped (position); brightness and
// contrast per image; the 68 landmarks; marks (points, regions, measurements) saved through
// the page's own routes. Zoom and pan are zoom.js's, which moves the drawings (.zoom-follow)
// with the images. Plain script, nothing loaded from elsewhere.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var COLOURS = ["#e62828", "#1a6ee6", "#009640", "#c87800", "#9628c8"];

  function el(name, attrs) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    return e;
  }

  function setup(box) {
    var W = 360, H = 440, inter = 108;
    var views = {};
    box.querySelectorAll(".cmp-view").forEach(function (f) {
      var side = f.getAttribute("data-side");
      views[side] = { fig: f, port: f.querySelector(".viewport"), img: f.querySelector("img"),
                      svg: f.querySelector("svg") };
    });
    var status = box.querySelector(".cmp-status");
    var list = box.querySelector(".cmp-marks");
    var pendingText = box.querySelector(".cmp-pending");
    var ctl = function (name) { return box.querySelector('[data-ctl="' + name + '"]'); };
    var data = null, marks = [], pending = [], pendingSide = null, timer = null;
    var me = box.getAttribute("data-me");
    var canMark = box.getAttribute("data-can-mark") === "yes";

    function say(text) { if (status) { status.textContent = text; } }

    function mode() {
      var r = box.querySelector(".cmp-modes input:checked");
      return r ? r.value : "side";
    }

    function adjust() {
      ["probe", "candidate"].forEach(function (side) {
        var b = box.querySelector('[data-ctl="brightness"][data-side="' + side + '"]');
        var c = box.querySelector('[data-ctl="contrast"][data-side="' + side + '"]');
        views[side].img.style.filter = "brightness(" + (b.value / 100) + ") contrast(" + (c.value / 100) + ")";
      });
    }

    function show() {
      var m = mode(), cand = views.candidate.port, line = box.querySelector(".cmp-wipe-line");
      box.setAttribute("data-mode", m);
      if (timer) { clearInterval(timer); timer = null; }
      cand.style.opacity = "";
      cand.style.clipPath = "";
      cand.style.visibility = "";
      line.hidden = true;
      box.removeAttribute("data-showing");
      if (m === "overlay") {
        cand.style.opacity = String(ctl("opacity").value / 100);
      } else if (m === "wipe") {
        var v = Number(ctl("wipe").value);
        cand.style.clipPath = "inset(0 " + (100 - v) + "% 0 0)";
        line.hidden = false;
        line.style.left = v + "%";
      } else if (m === "flicker") {
        var on = true;
        var flip = function () {
          on = !on;
          cand.style.visibility = on ? "visible" : "hidden";
          box.setAttribute("data-showing", on ? "candidate" : "probe");
        };
        box.setAttribute("data-showing", "candidate");
        timer = setInterval(flip, Number(ctl("rate").value));
      }
    }

    function landmarksOn() { var c = ctl("landmarks"); return c && c.checked; }

    function draw() {
      ["probe", "candidate"].forEach(function (side) {
        var svg = views[side].svg;
        while (svg.firstChild) { svg.removeChild(svg.firstChild); }
        if (!data) { return; }
        if (landmarksOn()) {
          (data[side].landmarks || []).forEach(function (p) {
            svg.appendChild(el("circle", { cx: p[0], cy: p[1], r: 1.8, fill: "#ffe000", stroke: "#000", "stroke-width": 0.4, "class": "landmark" }));
          });
        }
        var names = [];
        marks.forEach(function (m) { if (names.indexOf(m.examiner) < 0) { names.push(m.examiner); } });
        marks.forEach(function (m, i) {
          if (m.image !== side) { return; }
          var colour = COLOURS[names.indexOf(m.examiner) % COLOURS.length], p = m.points;
          if (m.kind === "region") {
            svg.appendChild(el("rect", { x: Math.min(p[0][0], p[1][0]), y: Math.min(p[0][1], p[1][1]),
              width: Math.abs(p[0][0] - p[1][0]), height: Math.abs(p[0][1] - p[1][1]),
              fill: "none", stroke: colour, "stroke-width": 2 }));
          } else if (m.kind === "measure") {
            svg.appendChild(el("line", { x1: p[0][0], y1: p[0][1], x2: p[1][0], y2: p[1][1], stroke: colour, "stroke-width": 2 }));
          }
          p.forEach(function (q) { svg.appendChild(el("circle", { cx: q[0], cy: q[1], r: 4, fill: "none", stroke: colour, "stroke-width": 2 })); });
          var t = el("text", { x: p[0][0] + 6, y: p[0][1] - 6, fill: colour, "font-size": 14, "font-weight": 700, stroke: "#fff", "stroke-width": 0.6 });
          t.textContent = String(i + 1);
          svg.appendChild(t);
        });
        if (pendingSide === side) {
          pending.forEach(function (q) { svg.appendChild(el("circle", { cx: q[0], cy: q[1], r: 5, fill: "#ffffff", stroke: "#000", "stroke-width": 1.5, "class": "pending" })); });
        }
      });
    }

    function describe(m) {
      var what = m.feature.replace(/_/g, " ") + ", " + (m.kind === "measure" ? "measurement" : m.kind) + " on the " + (m.image === "probe" ? "probe" : "candidate");
      if (m.measure !== null && m.measure !== undefined) { what += ": " + m.measure.toFixed(2) + " of the inter-eye distance"; }
      return what + (m.note ? " (" + m.note + ")" : "") + " by " + m.examiner;
    }

    function render() {
      draw();
      if (!list) { return; }
      list.textContent = "";
      if (!marks.length) {
        var none = document.createElement("li");
        none.className = "note";
        none.textContent = "No mark yet.";
        list.appendChild(none);
      }
      marks.forEach(function (m) {
        var li = document.createElement("li");
        li.setAttribute("data-mark-id", String(m.id));
        li.appendChild(document.createTextNode(describe(m) + " "));
        if (canMark && m.examiner === me) {
          var b = document.createElement("button");
          b.type = "button";
          b.className = "secondary";
          b.textContent = "Remove mark " + (marks.indexOf(m) + 1);
          b.addEventListener("click", function () { remove(m); });
          li.appendChild(b);
        }
        list.appendChild(li);
      });
    }

    function need() { var k = ctl("kind"); return k && k.value !== "point" ? 2 : 1; }

    function pendingSay() {
      if (!pendingText) { return; }
      if (!pending.length) { pendingText.textContent = "No point placed yet."; return; }
      var text = pending.length + " of " + need() + " point(s) placed on the " + pendingSide;
      if (pending.length === 2 && ctl("kind").value === "measure") {
        var d = Math.hypot(pending[0][0] - pending[1][0], pending[0][1] - pending[1][1]) / inter;
        text += ": " + d.toFixed(2) + " of the inter-eye distance";
      }
      pendingText.textContent = text + ".";
    }

    function place(side, e) {
      if (!canMark || !data) { return; }
      var target = mode() === "side" ? side : ctl("image").value;
      var r = views[side].img.getBoundingClientRect();
      if (!r.width || !r.height) { return; }
      var x = (e.clientX - r.left) / r.width * W, y = (e.clientY - r.top) / r.height * H;
      if (x < 0 || y < 0 || x > W || y > H) { return; }
      if (pendingSide !== target || pending.length >= need()) { pending = []; }
      pendingSide = target;
      ctl("image").value = target;
      pending.push([Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
      pendingSay();
      draw();
    }

    function post(url, fields) {
      var body = new URLSearchParams();
      body.set("csrf", box.getAttribute("data-csrf"));
      Object.keys(fields).forEach(function (k) { body.set(k, fields[k]); });
      return fetch(url, { method: "POST", body: body, credentials: "same-origin",
                          headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); });
    }

    function save() {
      if (pending.length !== need()) { say("Place " + need() + " point(s) on the image first."); return; }
      var fields = { image: pendingSide, kind: ctl("kind").value, feature: ctl("feature").value,
                     note: ctl("note").value,
                     points: pending.map(function (p) { return p[0] + "," + p[1]; }).join(";") };
      fields[box.getAttribute("data-param")] = box.getAttribute("data-value");
      post(box.getAttribute("data-mark"), fields).then(function (res) {
        if (!res.ok) { say("Not saved: " + res.body.message); return; }
        marks.push(res.body);
        pending = [];
        ctl("note").value = "";
        pendingSay();
        render();
        say("Mark " + marks.length + " saved.");
      }, function () { say("Not saved: the server could not be reached."); });
    }

    function remove(m) {
      post(box.getAttribute("data-mark") + "/" + m.id + "/delete", {}).then(function (res) {
        if (!res.ok) { say("Not removed: " + res.body.message); return; }
        marks = marks.filter(function (x) { return x.id !== m.id; });
        render();
        say("Mark removed.");
      });
    }

    Object.keys(views).forEach(function (side) {
      var v = views[side], down = null;
      v.port.addEventListener("pointerdown", function (e) { down = { x: e.clientX, y: e.clientY }; });
      v.port.addEventListener("pointerup", function (e) {
        if (down && Math.abs(e.clientX - down.x) < 4 && Math.abs(e.clientY - down.y) < 4) {
          // in the stacked views the top image takes the click; its pixels are the probe's too
          place(mode() === "side" ? side : "candidate", e);
        }
        down = null;
      });
    });
    box.querySelectorAll(".cmp-modes input").forEach(function (r) { r.addEventListener("change", show); });
    ["opacity", "wipe", "rate"].forEach(function (n) { ctl(n).addEventListener("input", show); });
    box.querySelectorAll('[data-ctl="brightness"], [data-ctl="contrast"]').forEach(function (i) { i.addEventListener("input", adjust); });
    ctl("landmarks").addEventListener("change", draw);
    if (canMark) {
      box.querySelector('[data-act="save"]').addEventListener("click", save);
      box.querySelector('[data-act="clear"]').addEventListener("click", function () { pending = []; pendingSay(); draw(); });
      ctl("kind").addEventListener("change", function () { pending = []; pendingSay(); draw(); });
    }

    fetch(box.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) { say("The aligned pair is not available: " + res.body.message); return; }
        data = res.body;
        W = data.width; H = data.height; inter = data.inter_eye;
        var missing = [];
        ["probe", "candidate"].forEach(function (side) {
          if (data[side].image) { views[side].img.src = data[side].image; }
          else { missing.push(side + ": " + data[side].problem); }
        });
        marks = data.annotations || [];
        render();
        say(missing.length ? "Not aligned: " + missing.join("; ") :
            "Aligned on the eyes: both faces scaled and turned so that the eye centres coincide.");
        box.setAttribute("data-ready", "yes");
      }, function () { say("The aligned pair could not be loaded."); });
    adjust();
    show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-compare]").forEach(setup);
  });
})();
