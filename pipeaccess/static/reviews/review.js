// The review page: keyboard shortcuts, error rows from htmx, the progress bar and the bulk selection count.
// Loaded from templates/reviews/review.html; no inline script anywhere (the CSP forbids it).
(function () {
  "use strict";

  var current = null; // the item row the keyboard works on

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#review-items tr.item"));
  }

  function forget(row) {
    if (!row) return;
    row.classList.remove("current");
    row.removeAttribute("aria-current");
  }

  function firstPending() {
    var all = rows();
    return all.filter(function (r) { return r.classList.contains("state-pending"); })[0] || all[0];
  }

  function setCurrent(row, scroll) {
    if (current && current !== row) forget(current);
    current = row;
    if (!row) return;
    row.classList.add("current");
    row.setAttribute("aria-current", "true");
    row.focus({ preventScroll: true });
    if (scroll !== false) row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = current ? all.indexOf(current) : -1;
    if (index === -1) {
      setCurrent(all[step > 0 ? 0 : all.length - 1]);
      return;
    }
    var next = index + step;
    if (next >= all.length) {
      var nextPage = document.getElementById("page-next");
      if (nextPage) window.location.assign(nextPage.href);
      return;
    }
    if (next < 0) {
      var prevPage = document.getElementById("page-prev");
      if (prevPage) window.location.assign(prevPage.href);
      return;
    }
    setCurrent(all[next]);
  }

  function firstPendingAfter(row) {
    var all = rows();
    var start = all.indexOf(row);
    for (var i = start + 1; i < all.length; i++) {
      if (all[i].classList.contains("state-pending")) return all[i];
    }
    return start + 1 < all.length ? all[start + 1] : row;
  }

  function click(row, selector) {
    var button = row && row.querySelector(selector);
    if (button && !button.disabled) button.click();
    return !!button;
  }

  // Ask for a justification in the row itself; Enter then submits the chosen decision.
  function prompt(row, intent, message) {
    var input = row.querySelector("input.justification");
    if (!input) return;
    row.dataset.intent = intent;
    var label = row.querySelector("label[for='" + input.id + "']");
    if (label) {
      label.classList.remove("visually-hidden");
      label.textContent = message;
    }
    input.focus();
  }

  function approve(row) {
    var input = row.querySelector("input.justification");
    if (row.dataset.highRisk && input && !input.value.trim()) {
      prompt(row, "approve", "High risk: why should this access stay? (Enter approves)");
      return;
    }
    click(row, "button.approve-button");
  }

  function revoke(row) {
    var input = row.querySelector("input.justification");
    if (input && input.value.trim()) {
      click(row, "button.revoke-button");
      return;
    }
    prompt(row, "revoke", "Why revoke? (Enter revokes, Esc cancels)");
  }

  function downgrade(row) {
    var select = row.querySelector("select.level-select");
    if (!select) return;
    row.dataset.intent = "downgrade";
    select.focus();
  }

  function toggleSelect(row) {
    var box = row.querySelector("input.item-select");
    if (!box) return;
    box.checked = !box.checked;
    updateCount();
  }

  function updateCount() {
    var out = document.getElementById("bulk-count");
    if (!out) return;
    var n = document.querySelectorAll("input.item-select:checked").length;
    var all = document.getElementById("bulk-select-all");
    out.textContent = all && all.checked ? "all matching selected" : n + " selected";
  }

  function openHelp() {
    var dialog = document.getElementById("shortcut-help");
    if (dialog && !dialog.open) dialog.showModal();
  }

  var keys = {
    j: function () { move(1); },
    k: function () { move(-1); },
    a: function (row) { approve(row); },
    r: function (row) { revoke(row); },
    d: function (row) { downgrade(row); },
    u: function (row) { click(row, "button.undo-button"); },
    x: function (row) { toggleSelect(row); },
  };

  function isField(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var row = target.closest ? target.closest("tr.item") : null;

    if (isField(target)) {
      if (event.key === "Escape" && row) {
        event.preventDefault();
        delete row.dataset.intent;
        setCurrent(row, false);
        return;
      }
      // Enter in a row's field submits the decision the reviewer chose, never a default one.
      if (event.key === "Enter" && row && target.tagName !== "TEXTAREA") {
        var form = target.closest("form.decide");
        if (!form) return;
        event.preventDefault();
        var intent = target.classList.contains("delegate-to") ? "delegate" : row.dataset.intent;
        if (target.tagName === "SELECT") intent = "downgrade";
        var button = intent && form.querySelector("button[name=decision][value='" + intent + "']");
        if (button) {
          button.click();
        } else {
          prompt(row, "", "Justification — now press the button for your decision");
        }
      }
      return;
    }

    if (event.key === "?") {
      event.preventDefault();
      openHelp();
      return;
    }
    if (event.key === "s") {
      var signOff = document.getElementById("sign-off-button");
      if (signOff && !signOff.disabled) {
        event.preventDefault();
        signOff.focus();
      }
      return;
    }
    var action = keys[event.key];
    if (!action) return;
    if (!document.getElementById("review-items")) return;
    event.preventDefault();
    if (!current || !document.body.contains(current)) {
      if (event.key === "j" || event.key === "k") {
        action(row);
        return;
      }
      setCurrent(row || rows()[0]);
    }
    if (current) action(current);
  });

  // Clicking into a row makes it the current one.
  document.addEventListener("focusin", function (event) {
    var row = event.target.closest && event.target.closest("tr.item");
    if (row && row !== current) {
      forget(current);
      current = row;
      row.classList.add("current");
      row.setAttribute("aria-current", "true");
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("input.item-select, #bulk-select-all")) updateCount();
  });

  document.addEventListener("click", function (event) {
    if (event.target.id === "shortcut-help-button") openHelp();
  });

  // The server answers refused decisions with the row and a message (400 justification, 403, 409 conflict):
  // show them in place instead of dropping the response as htmx does for errors.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 403 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    } else if (status >= 400) {
      var messages = document.getElementById("messages");
      if (messages) {
        messages.textContent = "";
        var list = document.createElement("ul");
        list.className = "messages";
        var li = document.createElement("li");
        li.className = "error";
        li.textContent = status === 404 ? "That item is not among your reviews (any more). Reload the page." :
          "The server could not record that (" + status + "). Nothing was changed; try again.";
        list.appendChild(li);
        messages.appendChild(list);
      }
    }
  });

  var lastRowId = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.detail.elt.closest && event.detail.elt.closest("tr.item");
    lastRowId = row ? row.id : null;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (lastRowId) {
      var row = document.getElementById(lastRowId);
      lastRowId = null;
      if (!row) return;
      var focus = row.querySelector("[data-focus]");
      if (focus) {
        current = row;
        row.classList.add("current");
        focus.focus();
        return;
      }
      // A decision landed: go on to the next undecided item.
      if (row.classList.contains("state-decided") || row.classList.contains("moved")) {
        setCurrent(firstPendingAfter(row));
      } else {
        setCurrent(row);
      }
      return;
    }
    if (event.detail.target && event.detail.target.id === "review-list") {
      // A new list (filter or bulk decision): the cursor starts again at the first undecided item.
      current = null;
      updateCount();
      // Marked, not focused: whoever was typing in the filter keeps their field.
      var first = firstPending();
      if (first) {
        current = first;
        first.classList.add("current");
        first.setAttribute("aria-current", "true");
      }
    }
  });

  document.body.addEventListener("review-progress", function (event) {
    var p = event.detail;
    var box = document.getElementById("review-progress");
    if (!box || !p) return;
    box.querySelector(".progress-done").textContent = p.done;
    box.querySelector(".progress-total").textContent = p.total;
    box.querySelector(".progress-pending").textContent = p.pending;
    var fill = box.querySelector("svg.bar rect.fill");
    if (fill) {
      fill.setAttribute("width", p.total ? Math.min(100, (100 * p.done) / p.total).toFixed(1) : "0");
      fill.classList.toggle("done", p.total > 0 && p.done >= p.total);
    }
    var signOff = document.getElementById("sign-off-button");
    if (signOff) signOff.disabled = p.pending > 0;
  });

  document.addEventListener("DOMContentLoaded", function () {
    updateCount();
    var first = firstPending();
    if (first && !document.querySelector("[data-focus]")) setCurrent(first, false);
  });
})();
