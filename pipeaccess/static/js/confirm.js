// Buttons and forms marked data-confirm="question" ask before they submit (no inline handlers: CSP).
document.addEventListener("submit", function (event) {
  const form = event.target;
  const trigger = event.submitter && event.submitter.dataset.confirm ? event.submitter : form;
  const question = trigger.dataset ? trigger.dataset.confirm : null;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);
