// The service desk's countdowns: service time left, counted down in the page.
//
// The server renders each request's service time left (data-left, seconds) as of its own
// clock (#desk-clock data-now, epoch ms) with the desk's next service windows
// (data-windows: [[start, end], ...] epoch ms). Here the time goes on from the server's
// now by the time elapsed in the browser (performance.now(), never the browser's wall
// clock), and a running clock loses only the part of it inside a service window: outside
// the desk's hours, or while the request waits on someone else (data-running="0"), it
// stands still. Without this script the page shows the server's figures as they were.
(function () {
  "use strict";
  var data = document.getElementById("desk-clock");
  if (!data) return;
  var serverNow = Number(data.dataset.now);
  var windows = JSON.parse(data.dataset.windows || "[]");
  var started = performance.now();
  var counters = Array.prototype.slice.call(document.querySelectorAll(".countdown[data-left]"));
  if (!counters.length) return;

  // Service milliseconds between the server's now and t (both epoch ms).
  function serviceSince(t) {
    var ran = 0;
    for (var i = 0; i < windows.length; i++) {
      var lo = Math.max(windows[i][0], serverNow), hi = Math.min(windows[i][1], t);
      if (hi > lo) ran += hi - lo;
    }
    return ran;
  }

  function open(t) {
    for (var i = 0; i < windows.length; i++) {
      if (windows[i][0] <= t && t < windows[i][1]) return true;
    }
    return false;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function duration(seconds) {
    var sign = seconds < 0 ? "-" : "";
    var total = Math.floor(Math.abs(seconds));
    return sign + Math.floor(total / 3600) + "h " + pad(Math.floor(total % 3600 / 60)) + "m " +
      pad(total % 60) + "s";
  }

  function tick() {
    var now = serverNow + (performance.now() - started);
    var ran = serviceSince(now) / 1000;
    var inHours = open(now);
    counters.forEach(function (el) {
      if (el.dataset.running !== "1") return;
      var left = Number(el.dataset.left) - ran;
      el.textContent = duration(left);
      el.classList.toggle("breached", left < 0);
      el.classList.toggle("closed-hours", !inHours);
      el.title = inHours ? "service time left" : "outside service hours (" +
        data.dataset.hours + "): the clock stands still";
    });
  }

  tick();
  window.setInterval(tick, 1000);
})();
