// Starts ReDoc on /redoc. A file rather than an inline <script>: the page's CSP allows
// scripts from this server only. ReDoc writes its styles into <style> elements; it gives
// them this script's nonce, which the page's CSP allows.
"use strict";
(function () {
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.specUrl, { nonce: document.currentScript.nonce }, root);
})();
