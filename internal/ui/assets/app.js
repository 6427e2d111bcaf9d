// flowsteer viewer: draws the run page's curves and keeps them live with
// server-sent events. No framework, no build step. Text is only ever set
// through textContent and SVG attributes, never as HTML.
(function () {
  "use strict";
  var root = document.getElementById("curves");
  if (!root) { return; }
  var SVG = "http://www.w3.org/2000/svg";
  var metrics = [
    ["reward", "reward"], ["release", "release rate"], ["correctness", "correctness"], ["structure", "structure S(W)"],
    ["turns", "turns"], ["invalid", "invalid-action rate"], ["kl", "KL"], ["entropy", "entropy"],
    ["executor_calls", "executor calls"], ["cache_hit_rate", "cache hit rate"]
  ];
  var steps = [];
  var families = {};

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }

  function chart(key, label, get) {
    var W = 300, H = 120, P = 24;
    var box = document.createElement("div");
    box.className = "curve";
    box.setAttribute("data-metric", key);
    var svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H });
    var t = el("text", { x: 4, y: 12 }, svg);
    t.textContent = label;
    var ys = steps.map(get), xs = steps.map(function (s) { return s.step; });
    if (ys.length) {
      var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
      if (hi === lo) { hi = lo + 1; lo = lo - 1; }
      var first = Math.min.apply(null, xs), lastStep = Math.max.apply(null, xs);
      var x0 = first, x1 = lastStep === first ? first + 1 : lastStep;
      var pts = [];
      for (var i = 0; i < ys.length; i++) {
        var x = P + (W - 2 * P) * (xs[i] - x0) / (x1 - x0);
        var y = H - P + 8 - (H - 2 * P) * (ys[i] - lo) / (hi - lo);
        pts.push(x.toFixed(1) + "," + y.toFixed(1));
        el("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2, "class": "pt" }, svg);
      }
      el("polyline", { points: pts.join(" ") }, svg);
      var a = el("text", { x: 4, y: H - 4 }, svg); a.textContent = first === lastStep ? "step " + first : "step " + first + "–" + lastStep;
      var b = el("text", { x: W - 110, y: 12 }, svg); b.textContent = "last " + ys[ys.length - 1].toFixed(3);
    }
    box.appendChild(svg);
    return box;
  }

  function draw() {
    var grid = document.createElement("div");
    grid.className = "curves";
    metrics.forEach(function (m) {
      grid.appendChild(chart(m[0], m[1], function (s) { return Number(s[m[0]] || 0); }));
    });
    Object.keys(families).sort().forEach(function (f) {
      grid.appendChild(chart("accuracy_" + f, "accuracy " + f, function (s) { return Number((s.accuracy_by_family || {})[f] || 0); }));
    });
    root.textContent = "";
    root.appendChild(grid);
    root.setAttribute("data-points", String(steps.length));
  }

  function add(s) {
    if (steps.length && s.step <= steps[steps.length - 1].step) { return; }
    Object.keys(s.accuracy_by_family || {}).forEach(function (f) { families[f] = true; });
    steps.push(s);
  }

  var base = location.pathname;
  fetch(base + "?format=json").then(function (r) { return r.json(); }).then(function (d) {
    (d.steps || []).forEach(add);
    draw();
    var last = steps.length ? steps[steps.length - 1].step : -1;
    if (!window.EventSource) { return; }
    var es = new EventSource(base + "/events?after=" + last);
    es.addEventListener("step", function (e) {
      add(JSON.parse(e.data));
      draw();
      var st = document.getElementById("run-step");
      if (st) { st.textContent = String(steps[steps.length - 1].step); }
    });
    es.addEventListener("status", function (e) {
      var d = JSON.parse(e.data), st = document.getElementById("run-status");
      if (st) { st.textContent = d.status; st.className = "status " + d.status; }
    });
  });
})();
