// Account page: copy a new API key, confirm before revoking. Everything works without this file.
(function () {
  "use strict";

  function copyKey(button) {
    var input = document.getElementById(button.dataset.copyTarget);
    var status = document.querySelector("[data-copy-status]");
    navigator.clipboard.writeText(input.value).then(
      function () { status.textContent = "Copied to the clipboard."; },
      function () {
        input.select();
        status.textContent = "Copying failed: the key is selected, copy it with your keyboard.";
      }
    );
  }

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    if (!navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () { copyKey(button); });
  });

  document.addEventListener("submit", function (event) {
    var message = event.target.dataset ? event.target.dataset.confirm : null;
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
})();
