// Live progress of a submission: poll its status every two seconds while it is queued or
// running, update the stage and the bar, and reload the page once it has finished.
(function () {
  "use strict";
  const section = document.getElementById("progress");
  if (!section) return;
  const active = ["queued", "running"];
  if (!active.includes(section.dataset.status)) return;
  const statusText = document.getElementById("status");
  const stageText = document.getElementById("stage");
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
      }
    } catch (error) {
      // A network blip: try again at the next tick.
    }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();
