// DirectoryBolt console: copy buttons and live job progress. Plain script, no build step.
"use strict";

function copyText(text, button) {
  const done = () => { const was = button.textContent; button.textContent = "Copied"; setTimeout(() => { button.textContent = was; }, 1200); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
}

function fallbackCopy(text, done) {
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); done(); } finally { area.remove(); }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (button) { copyText(button.dataset.copy, button); }
});

// A running job's page re-reads its changing part every 2 s until the job is finished.
function follow(box) {
  const url = box.dataset.liveUrl;
  const tick = async () => {
    try {
      const answer = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (answer.redirected || !answer.ok) { return; }
      box.innerHTML = await answer.text();
      const progress = box.querySelector("[data-finished]");
      if (progress && progress.dataset.finished === "1") { return; }
    } catch (e) { /* the next tick tries again */ }
    setTimeout(tick, 2000);
  };
  setTimeout(tick, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live-url]").forEach(follow);
});
