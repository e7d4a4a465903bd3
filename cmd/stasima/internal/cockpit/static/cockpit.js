// The cockpit's only script: review clocks, the land confirmation and a notice when
// the airlock or canon changed. Every
// page works without it.
"use strict";
(function () {
  function fmt(s) {
    if (s <= 0) return "now";
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = (m < 10 ? "0" : "") + m, ss = (sec < 10 ? "0" : "") + sec;
    return (h > 0 ? h + ":" + mm : m) + ":" + ss;
  }
  function tick() {
    var now = Math.floor(Date.now() / 1000);
    document.querySelectorAll(".clock[data-until]").forEach(function (el) {
      el.textContent = fmt(parseInt(el.getAttribute("data-until"), 10) - now);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    var confirm = document.getElementById("confirm"), land = document.getElementById("land");
    if (confirm && land) {
      var sync = function () { land.disabled = confirm.value.trim() !== confirm.getAttribute("data-expect"); };
      confirm.addEventListener("input", sync);
      sync();
    }
    if (document.body.getAttribute("data-live") && window.EventSource) {
      var es = new EventSource("/events"), leaving = false;
      // A submitted form navigates away; a reload racing it would cancel the action's page.
      document.addEventListener("submit", function () { leaving = true; es.close(); });
      // Show a reload link rather than reloading: a reload would discard what is being typed.
      var reload = function () { if (!leaving) document.getElementById("live-banner").hidden = false; };
      ["airlock.staged", "airlock.reverted", "airlock.landed", "airlock.locked", "airlock.unlocked", "git.land"].forEach(function (t) {
        es.addEventListener(t, reload);
      });
    }
  });
})();
