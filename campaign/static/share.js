// "Copy link" on a letter's share block (templates/public/_share.html): copies the letter's
// address shown in the read-only field next to it. Without script the button stays hidden and
// the address can be selected and copied by hand.
(function () {
  "use strict";
  function copied(button, text) {
    var status = button.parentNode.querySelector(".copied");
    if (status) { status.textContent = text; }
  }
  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () {
        copied(button, "Copied");
      }, function () {
        copied(button, "Press Ctrl+C (or ⌘C) to copy");
      });
      return;
    }
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    copied(button, done ? "Copied" : "Press Ctrl+C (or ⌘C) to copy");
  }
  function ready() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
}());
