// The desk's camera, where the browser can read QR codes itself (the Shape Detection API's
// BarcodeDetector: Chrome on Android, macOS and ChromeOS; not desktop Linux or Firefox). Elsewhere the
// button stays hidden and the desk types or pastes the code from a scanner. The image never leaves the
// page: only the decoded text is submitted, through the same form.
(function () {
  "use strict";
  var button = document.getElementById("scan-camera");
  var form = document.getElementById("counter-form");
  var field = document.getElementById("dynamic-qr");
  var video = document.getElementById("camera");
  var status = document.getElementById("camera-status");
  if (!button || !form || !field || !video) { return; }
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return;
  }
  var PREFIX = "NETIDP1:";
  var detector = null;
  var stream = null;

  function stop() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.hidden = true;
  }

  function look() {
    if (!stream) { return; }
    detector.detect(video).then(function (codes) {
      for (var i = 0; i < codes.length; i++) {
        var text = codes[i].rawValue || "";
        if (text.indexOf(PREFIX) === 0) {
          stop();
          field.value = text;
          status.textContent = "Code read: checking…";
          form.submit();
          return;
        }
      }
      window.setTimeout(look, 200);
    }, function () { window.setTimeout(look, 500); });
  }

  button.addEventListener("click", function () {
    if (stream) { stop(); status.textContent = ""; return; }
    try {
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    } catch (e) {
      status.textContent = "This browser cannot read QR codes: paste the text instead.";
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        status.textContent = "Hold the customer's code in front of the camera…";
        return video.play();
      })
      .then(look, function () {
        stop();
        status.textContent = "No camera (or no permission): paste the text instead.";
      });
  });
  button.hidden = false;
}());
