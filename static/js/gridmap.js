/* The grid area map: a tap on <svg data-tap-form="ID"> puts the point, relative to the image
   (0–1 each way), into that form's hidden x and y inputs and submits it (grids/map.html). */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var svg = event.target.closest && event.target.closest("svg[data-tap-form]");
    if (!svg) return;
    var form = document.getElementById(svg.getAttribute("data-tap-form"));
    if (!form) return;
    var box = svg.getBoundingClientRect();
    if (!box.width || !box.height) return;
    var x = (event.clientX - box.left) / box.width;
    var y = (event.clientY - box.top) / box.height;
    if (x < 0 || x > 1 || y < 0 || y > 1) return;
    form.elements.x.value = x.toFixed(4);
    form.elements.y.value = y.toFixed(4);
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });
})();
