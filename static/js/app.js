// Small behaviours htmx has no attribute for (CSP allows only files from 'self').
(function () {
  "use strict";
  // A request that never reached the server: keep the page (and whatever was typed) and say so.
  function networkToast() {
    var box = document.getElementById("toasts");
    if (!box) { return; }
    var p = document.createElement("p");
    p.className = "flash flash-error";
    p.setAttribute("role", "alert");
    p.textContent = "网络连接失败，内容没有提交。已填写的内容仍在页面上，请检查网络后再点一次保存（不会重复登记）。";
    box.appendChild(p);
    setTimeout(function () { p.remove(); }, 12000);
  }
  document.addEventListener("htmx:sendError", networkToast);
  document.addEventListener("htmx:timeout", networkToast);
})();
