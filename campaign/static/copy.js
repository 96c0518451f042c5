// The Partners page: a button with data-copy="<id>" copies the text of the field with that id
// (a partner's link, its embed snippet) to the clipboard. Without it the fields are still there
// to select and copy by hand.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  const field = button && document.getElementById(button.dataset.copy);
  if (!field) {
    return;
  }
  field.select();
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(done, () => {
      if (document.execCommand("copy")) { done(); }
    });
  } else if (document.execCommand("copy")) {
    done();
  }
});
