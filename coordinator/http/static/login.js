"use strict";
// Shows why the last login was refused (the server redirects with ?error=).
(function () {
  const why = new URLSearchParams(location.search).get("error");
  const el = document.getElementById("error");
  if (why) { el.textContent = why; el.hidden = false; }
})();
