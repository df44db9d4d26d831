// longtail cockpit: small keyboard helpers, no dependencies.
// "/" focuses the search box; in a list marked data-nav-list, j/k move the selection and Enter opens it.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  var selected = -1;
  function rows() {
    var list = document.querySelector("[data-nav-list]");
    return list ? Array.prototype.slice.call(list.children) : [];
  }
  function select(index) {
    var all = rows();
    if (!all.length) { return; }
    selected = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    var link = all[selected].querySelector("a");
    if (link) { link.focus(); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) { return; }
    if (event.key === "/") {
      var box = document.getElementById("global-search");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    } else if (event.key === "j") {
      select(selected + 1);
    } else if (event.key === "k") {
      select(selected - 1);
    }
  });
})();
