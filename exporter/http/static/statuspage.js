// ssl-fault-exporter status page: optional niceties. Everything works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
  var units = zh ? [" 秒", " 分钟", " 小时", " 天"] : [" s", " min", " h", " d"];

  function span(seconds) {
    var s = Math.abs(seconds);
    if (s < 90) return Math.round(s) + units[0];
    if (s < 5400) return Math.round(s / 60) + units[1];
    if (s < 129600) return Math.round(s / 3600) + units[2];
    return Math.round(s / 86400) + units[3];
  }

  // Keep "12 s ago" / "in 48 s" current.
  function tick() {
    var now = Date.now() / 1000;
    var times = document.querySelectorAll("time[data-ts]");
    for (var i = 0; i < times.length; i++) {
      var delta = Number(times[i].getAttribute("data-ts")) - now;
      var t = span(delta);
      times[i].textContent = delta >= 0 ? (zh ? t + "后" : "in " + t) : (zh ? t + "前" : t + " ago");
    }
  }
  setInterval(tick, 5000);

  // Filters apply as soon as they change (the form still works by submit without JS).
  var form = document.querySelector("form.filters");
  if (form) {
    form.addEventListener("change", function (event) {
      if (event.target && event.target.name !== "q") form.submit();
    });
    // The text search narrows the table as you type; Enter submits it to the server.
    var search = form.querySelector("input[name=q]");
    var rows = document.querySelectorAll("tr.target");
    if (search) {
      search.addEventListener("input", function () {
        var needle = search.value.trim().toLowerCase();
        for (var i = 0; i < rows.length; i++) {
          rows[i].hidden = needle !== "" && rows[i].textContent.toLowerCase().indexOf(needle) < 0;
        }
      });
    }
  }
})();
