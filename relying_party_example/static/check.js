// Polls the shop until the wallet has answered, then moves on to the result (no framework needed).
(function () {
  "use strict";
  var box = document.getElementById("check");
  if (!box) { return; }
  var label = document.getElementById("check-status");
  var done = { answered: 1, failed: 1, expired: 1, none: 1 };
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body && done[body.status]) { window.location.assign(box.dataset.doneUrl); return; }
        if (body && body.status === "fetched") { label.textContent = "Your wallet has the request…"; }
        window.setTimeout(poll, 1000);
      }, function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 1000);
}());
