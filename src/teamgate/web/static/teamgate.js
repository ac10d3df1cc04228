// teamgate's only script: copy buttons and dates in the reader's locale. Pages work without it.
"use strict";

function showLocalTimes(root) {
  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
  for (const time of root.querySelectorAll("time[datetime]")) {
    const when = new Date(time.getAttribute("datetime"));
    // UTC on purpose where the page's filters are UTC days (the history).
    if (Number.isNaN(when.getTime()) || time.dataset.format === "utc") continue;
    time.textContent = (time.dataset.format === "date" ? dateOnly : dateTime).format(when);
    time.title = when.toISOString();
  }
}

async function copyFrom(button) {
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.value ?? source.textContent;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    // Not a secure context (plain http to a LAN address): select it for Ctrl+C instead.
    source.focus();
    source.select?.();
  }
  const status = document.getElementById(button.dataset.copyStatus);
  if (status) status.textContent = copied ? "Copied to the clipboard." : "Selected: press Ctrl+C to copy.";
}

document.addEventListener("DOMContentLoaded", () => {
  showLocalTimes(document);
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", () => copyFrom(button));
  }
});
