// Submission pages, each part active only where its elements are.
//
// The submit form uploads with XMLHttpRequest so that a progress bar can show how much of a
// large checkpoint has been sent; without JavaScript the same form posts normally. The view
// answers an XHR with {"location": ...} on success, or with the page again (the form and its
// errors), whose form area replaces this one.
//
// The submission page polls the status JSON every two seconds while the submission is queued
// or running, updates the stage and the bar, and reloads once it has finished.
(function () {
  "use strict";

  function size(bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit ? value.toFixed(1) : String(value)) + " " + units[unit];
  }

  function upload(form) {
    const box = form.querySelector("#upload");
    const bar = form.querySelector("#upload-bar");
    const text = form.querySelector("#upload-text");
    const problem = form.querySelector("#upload-error");
    const button = form.querySelector("button[type=submit]");

    function fail(message) {
      box.hidden = true;
      button.disabled = false;
      problem.textContent = message;
      problem.hidden = false;
    }

    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    request.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      bar.value = event.loaded / event.total;
      text.textContent = size(event.loaded) + " of " + size(event.total) + " sent";
    });
    request.upload.addEventListener("load", function () {
      bar.value = 1;
      text.textContent = "Uploaded; checking the checkpoint…";
    });
    request.addEventListener("load", function () {
      const type = request.getResponseHeader("Content-Type") || "";
      if (type.startsWith("application/json")) {
        const data = JSON.parse(request.responseText);
        if (data.location) {
          window.location.assign(data.location);
          return;
        }
      }
      if (type.startsWith("text/html") && request.status < 500) {
        const page = new DOMParser().parseFromString(request.responseText, "text/html");
        const fresh = page.getElementById("submit-area");
        const area = document.getElementById("submit-area");
        if (fresh && area) {
          area.replaceWith(fresh);
          const error = fresh.querySelector(".form-errors, .has-error");
          if (error) error.scrollIntoView({ block: "center" });
          return;
        }
      }
      // A plain-text refusal (an upload above the size limit) or an error page.
      fail(request.status + ": " + request.responseText.replace(/<[^>]*>/g, " ").trim().slice(0, 300));
    });
    request.addEventListener("error", function () {
      fail("The upload was interrupted: the connection broke. A file above the server's size " +
        "limit ends this way; otherwise, try again.");
    });
    problem.hidden = true;
    bar.value = 0;
    text.textContent = "";
    box.hidden = false;
    button.disabled = true;
    request.send(new FormData(form));
  }

  // Delegated: the form area is replaced after a refused upload.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "submit-form") return;
    if (!window.FormData || !window.XMLHttpRequest) return;
    event.preventDefault();
    upload(form);
  });

  const section = document.getElementById("progress");
  if (!section) return;
  const active = ["queued", "running"];
  if (!active.includes(section.dataset.status)) return;
  const statusText = document.getElementById("status");
  const stageText = document.getElementById("stage");
  const percent = document.getElementById("percent");
  const bar = document.getElementById("bar");

  async function poll() {
    try {
      const response = await fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        if (!active.includes(data.status)) {
          window.location.reload();
          return;
        }
        statusText.textContent = data.status.charAt(0).toUpperCase() + data.status.slice(1);
        stageText.textContent = data.stage;
        if (bar) bar.value = data.progress;
        if (percent) percent.textContent = Math.round(data.progress * 100) + "%";
      }
    } catch (error) {
      // A network blip: try again at the next tick.
    }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();
