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

// Grid fields with a search box (templates/_macros.html grid_picker): a tapped result fills the
// field; typing again clears the choice until another result is tapped; Enter never submits.
// A field of several grids collects each tapped result as a ticked box instead.
(function () {
  "use strict";
  // Several grids (templates/_macros.html grid_picker_multi): the field is a list of ticked boxes,
  // and a tapped result adds one (or ticks it again) and empties the box for the next search.
  function add(chosen, gid, label) {
    var boxes = chosen.querySelectorAll("input[type=checkbox]");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].value === gid) { boxes[i].checked = true; return; }
    }
    var item = document.createElement("li");
    var wrap = document.createElement("label");
    var tick = document.createElement("input");
    tick.type = "checkbox";
    tick.name = chosen.getAttribute("data-pick-name");
    tick.value = gid;
    tick.checked = true;
    wrap.appendChild(tick);
    wrap.appendChild(document.createTextNode(" " + label));
    item.appendChild(wrap);
    chosen.appendChild(item);
  }
  function choose(button) {
    var id = button.getAttribute("data-pick-for");
    var field = document.getElementById(id);
    var box = document.getElementById(id + "-q");
    var list = document.getElementById(id + "-results");
    if (!field || !box) { return; }
    if (field.hasAttribute("data-pick-name")) {
      add(field, button.getAttribute("data-pick-id"), button.getAttribute("data-pick-label"));
      box.value = "";
    } else {
      field.value = button.getAttribute("data-pick-id");
      box.value = button.getAttribute("data-pick-label");
    }
    if (list) { list.innerHTML = ""; }
    box.focus();
  }
  // The single-grid field: its hidden input holds the chosen id, "0" while none is.
  function singleField(id) {
    var field = document.getElementById(id);
    return field && field.tagName === "INPUT" ? field : null;
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-pick-id]") : null;
    if (button) { choose(button); }
  });
  document.addEventListener("input", function (e) {
    var box = e.target;
    if (!box.matches || !box.matches("input[data-pick-for]")) { return; }
    var hidden = singleField(box.getAttribute("data-pick-for"));
    if (hidden) { hidden.value = "0"; }
  });
  // A result list that arrives after a tap (a request still on its way) is not shown again.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var list = e.detail.target;
    if (!list || !list.classList || !list.classList.contains("pick-results")) { return; }
    var hidden = singleField(list.id.replace(/-results$/, ""));
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
