/* Old server messages leave the screen as soon as the next submit is tried: also when the
   browser blocks it (HTML validation fires "invalid", which does not bubble: listen in the
   capture phase), so a stale "Received…" never sits above a refused form. */
(function () {
  function clear() {
    var old = document.querySelectorAll("[data-stale-on-submit]");
    for (var i = 0; i < old.length; i++) old[i].remove();
  }
  document.addEventListener("submit", clear, true);
  document.addEventListener("invalid", clear, true);
})();
