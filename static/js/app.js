// Small behaviours htmx has no attribute for (CSP allows only files from 'self').
(function () {
  "use strict";
  // A request whose answer never came back: it may or may not have reached the server. Keep the page
  // (and whatever was typed) and say so. Only a form that creates a record carries a key
  // (core/idempotency.py), so only there may we promise that sending it again makes nothing twice.
  function networkToast(e) {
    var box = document.getElementById("toasts");
    if (!box) { return; }
    var elt = e.detail && e.detail.elt;
    var form = elt && elt.closest ? elt.closest("form") : null;
    var keyed = form && form.querySelector("input[name=form_key]");
    var p = document.createElement("p");
    p.className = "flash flash-error";
    p.setAttribute("role", "alert");
    p.textContent = keyed
      ? "网络连接中断，不确定内容是否已提交。已填写的内容仍在页面上，请检查网络后再点一次保存（不会重复登记）。"
      : "网络连接中断，不确定操作是否已完成。已填写的内容仍在页面上，请检查网络后刷新页面查看最新情况，再决定是否重新提交。";
    box.appendChild(p);
    setTimeout(function () { p.remove(); }, 12000);
  }
  document.addEventListener("htmx:sendError", networkToast);
  document.addEventListener("htmx:timeout", networkToast);
})();

// Typing keeps the session alive: while a form has unsaved typing, the page tells the server the
// user is still there (GET /session/alive) a few times per idle timeout, so 30 minutes spent talking
// to a family do not lose the visit being typed. No typing, no ping: an abandoned PC still logs out.
(function () {
  "use strict";
  var idle = parseInt(document.body.getAttribute("data-idle-seconds"), 10) || 1800;
  var every = Math.max(10, Math.min(300, Math.floor(idle / 3))) * 1000;
  var typedSince = 0;
  function unsaved(e) {
    var form = e.target && e.target.closest ? e.target.closest("form[method=post]") : null;
    if (form) { form.setAttribute("data-unsaved", "1"); typedSince = Date.now(); }
  }
  document.addEventListener("input", unsaved);
  document.addEventListener("change", unsaved);
  document.addEventListener("submit", function (e) { e.target.removeAttribute("data-unsaved"); });
  setInterval(function () {
    if (!typedSince || !document.querySelector("form[data-unsaved]")) { return; }
    typedSince = 0;
    fetch("/session/alive", { credentials: "same-origin", cache: "no-store" }).catch(function () {});
  }, every);
})();

// Saving a form with photos: a progress bar while the upload runs, the button disabled and saying
// 保存中… until the answer is back (htmx's xhr progress events; a plain submit shows the browser's own).
(function () {
  "use strict";
  function uploadForm(e) {
    var elt = e.detail && e.detail.elt;
    var form = elt && elt.closest ? elt.closest("form[enctype='multipart/form-data']") : null;
    return form;
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = uploadForm(e);
    if (!form) { return; }
    var button = form.querySelector("button[type=submit]");
    var bar = form.querySelector("progress.upload-progress");
    if (!bar) {
      bar = document.createElement("progress");
      bar.className = "upload-progress";
      bar.max = 100;
      bar.setAttribute("aria-label", "上传进度");
      (button ? button.parentNode : form).insertBefore(bar, button ? button.nextSibling : null);
    }
    bar.removeAttribute("value");  // indeterminate until the first progress event
    bar.hidden = false;
    if (button) {
      button.setAttribute("data-label", button.textContent);
      button.textContent = "保存中…";
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
  });
  document.addEventListener("htmx:xhr:progress", function (e) {
    var form = uploadForm(e);
    var bar = form && form.querySelector("progress.upload-progress");
    if (bar && e.detail.lengthComputable && e.detail.total) {
      bar.value = Math.round(100 * e.detail.loaded / e.detail.total);
      bar.textContent = bar.value + "%";
    }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = uploadForm(e);
    if (!form) { return; }
    var bar = form.querySelector("progress.upload-progress");
    if (bar) { bar.hidden = true; }
    var button = form.querySelector("button[type=submit]");
    if (button && button.hasAttribute("data-label")) {
      button.textContent = button.getAttribute("data-label");
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
})();

// Grid fields with a search box (templates/_macros.html grid_picker): a tapped result fills the
// field; typing again clears the choice until another result is tapped; Enter never submits.
(function () {
  "use strict";
  function choose(button) {
    var id = button.getAttribute("data-pick-for");
    var hidden = document.getElementById(id);
    var box = document.getElementById(id + "-q");
    var list = document.getElementById(id + "-results");
    if (!hidden || !box) { return; }
    hidden.value = button.getAttribute("data-pick-id");
    box.value = button.getAttribute("data-pick-label");
    if (list) { list.innerHTML = ""; }
    box.focus();
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-pick-id]") : null;
    if (button) { choose(button); }
  });
  document.addEventListener("input", function (e) {
    var box = e.target;
    if (!box.matches || !box.matches("input[data-pick-for]")) { return; }
    var hidden = document.getElementById(box.getAttribute("data-pick-for"));
    if (hidden) { hidden.value = "0"; }
  });
  // A result list that arrives after a tap (a request still on its way) is not shown again.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var list = e.detail.target;
    if (!list || !list.classList || !list.classList.contains("pick-results")) { return; }
    var hidden = document.getElementById(list.id.replace(/-results$/, ""));
    if (hidden && hidden.value !== "0") { e.detail.shouldSwap = false; }
  });
  // Keys: Enter in the box never submits (it takes the only result, if there is one); the arrow
  // keys move between the box and the results; Escape closes the results.
  document.addEventListener("keydown", function (e) {
    var el = e.target;
    if (!el.matches) { return; }
    var inBox = el.matches("input[data-pick-for]");
    var onResult = el.matches("button[data-pick-id]");
    if (!inBox && !onResult) { return; }
    var id = el.getAttribute("data-pick-for");
    var box = document.getElementById(id + "-q");
    var list = document.getElementById(id + "-results");
    var results = list ? Array.prototype.slice.call(list.querySelectorAll("button[data-pick-id]")) : [];
    var at = onResult ? results.indexOf(el) : -1;
    if (e.key === "Enter" && inBox) {
      e.preventDefault();
      if (results.length === 1) { choose(results[0]); }
    } else if (e.key === "ArrowDown" && results.length) {
      e.preventDefault();
      results[Math.min(at + 1, results.length - 1)].focus();
    } else if (e.key === "ArrowUp" && onResult) {
      e.preventDefault();
      if (at > 0) { results[at - 1].focus(); } else if (box) { box.focus(); }
    } else if (e.key === "Escape" && list) {
      list.innerHTML = "";
      if (box) { box.focus(); }
    }
  });
})();
