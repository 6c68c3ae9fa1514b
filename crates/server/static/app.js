// Castellan's own script: opens dialogs that htmx loads, returns focus when they close, and
// dismisses message boxes. No inline script anywhere (the CSP forbids it); pages work without
// this file, which only makes dialogs modal instead of pages of their own.
(function () {
  "use strict";
  var opener = null;

  function openDialogs(root) {
    var dialogs = root.querySelectorAll ? root.querySelectorAll("dialog[data-modal]") : [];
    dialogs.forEach(function (d) {
      if (d.open) { return; }
      d.addEventListener("close", function () {
        var slot = document.getElementById("dialog-slot");
        if (slot && slot.contains(d)) { slot.innerHTML = ""; }
        if (opener && document.contains(opener)) {
          // An item of a row's More options menu: the menu was closed, so its button takes focus.
          var menu = opener.closest ? opener.closest("details:not([open])") : null;
          var summary = menu ? menu.querySelector("summary") : null;
          (summary || opener).focus();
        }
        opener = null;
      });
      // A row's More options menu stays no longer open behind the dialog it opened.
      document.querySelectorAll("details.row-menu[open], details.menu[open]").forEach(function (m) {
        m.open = false;
      });
      d.showModal();
      var first = d.querySelector("[autofocus]") || d.querySelector("input:not([type=hidden]), select, textarea, button");
      if (first) { first.focus(); }
    });
  }

  document.addEventListener("htmx:beforeRequest", function (e) {
    var el = e.detail && e.detail.elt;
    if (el && el.hasAttribute && el.hasAttribute("data-opens-dialog")) { opener = el; }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    openDialogs(e.detail.target || document);
  });
  document.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target.closest("[data-close]") : null;
    if (t) {
      var d = t.closest("dialog[data-modal]");
      if (d && d.open) { e.preventDefault(); d.close(); }
      return;
    }
    var c = e.target.closest ? e.target.closest("[data-copy]") : null;
    if (c) {
      var src = document.getElementById(c.getAttribute("data-copy"));
      if (src && navigator.clipboard) {
        navigator.clipboard.writeText(src.textContent).then(function () { c.textContent = "Copied"; });
      }
      return;
    }
    var x = e.target.closest ? e.target.closest("[data-dismiss]") : null;
    if (x) { var box = x.closest(".msg"); if (box) { box.remove(); } }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-dismiss]").forEach(function (b) { b.hidden = false; });
  });
})();
