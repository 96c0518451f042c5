// The moderation queue (admin/signatures.html): the heading's checkbox ticks or clears every row
// of the page at once. Without script it stays hidden, and "Apply to: all on this page" in the
// bulk form does the same on the server.
document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("pick-all");
  if (!all) {
    return;
  }
  const rows = () => document.querySelectorAll("table.queue input[name=ids]");
  all.hidden = false;
  all.addEventListener("change", () => {
    rows().forEach((box) => { box.checked = all.checked; });
  });
  document.addEventListener("change", (event) => {
    if (event.target.name === "ids") {
      const boxes = Array.from(rows());
      all.checked = boxes.every((box) => box.checked);
      all.indeterminate = !all.checked && boxes.some((box) => box.checked);
    }
  });
});
