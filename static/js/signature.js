/* Finger signature pad: draws on a <canvas class="sigpad"> with pointer events and, on submit,
   puts the drawing as a PNG data URL into the hidden input named by data-target (after each stroke).
   Nothing is drawn on an untouched pad, so the server can refuse an empty signature. */
(function () {
  "use strict";

  function setUp(canvas) {
    if (canvas.dataset.ready) return;
    canvas.dataset.ready = "1";
    var form = canvas.closest("form");
    var input = document.getElementById(canvas.dataset.target);
    var ctx = canvas.getContext("2d");
    var drawing = false;
    var drawn = false;

    ctx.lineWidth = 4;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#000";

    function point(event) {
      var box = canvas.getBoundingClientRect();
      return {
        x: (event.clientX - box.left) * (canvas.width / box.width),
        y: (event.clientY - box.top) * (canvas.height / box.height)
      };
    }

    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      drawing = true;
      var p = point(event);
      ctx.beginPath();
      ctx.moveTo(p.x, p.y);
      ctx.lineTo(p.x + 0.1, p.y + 0.1);
      ctx.stroke();
      drawn = true;
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      event.preventDefault();
      var p = point(event);
      ctx.lineTo(p.x, p.y);
      ctx.stroke();
    });
    // The drawing goes into the form after every stroke: htmx (hx-boost) reads the form's
    // values in its own submit handler, which may run before a submit handler of ours.
    function stop() {
      if (!drawing) return;
      drawing = false;
      input.value = canvas.toDataURL("image/png");
    }
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);

    var clear = form.querySelector(".sigpad-clear");
    if (clear) {
      clear.addEventListener("click", function () {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        drawn = false;
        input.value = "";
      });
    }
    form.addEventListener("submit", function () {
      if (!drawn) input.value = "";
    });
  }

  function init() {
    document.querySelectorAll("canvas.sigpad").forEach(setUp);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  document.addEventListener("htmx:afterSettle", init);
})();
