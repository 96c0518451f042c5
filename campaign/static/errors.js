// The error summary of an invalid form (templates/_macros.html, the GOV.UK pattern): focused when
// the page loads, so that a screen reader reads it out and a phone shows it rather than the top of
// a long letter. Its links move the focus to the field itself, its label and message in view.
const summary = document.querySelector(".error-summary");
if (summary) {
  summary.focus();
  summary.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    const input = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!input) {
      return;
    }
    event.preventDefault();
    (input.closest(".field") || input).scrollIntoView();
    input.focus({ preventScroll: true });
  });
}
