// The console's shared script: copy buttons, and the helpers pages use (no framework).
// Everything works without it except copying, zoom by dragging, "load more" and live tail.
"use strict";

const Console = {
  // Copy `text` to the clipboard; `button` shows a tick. Falls back to a hidden textarea when the
  // Clipboard API is unavailable (plain http on a non-loopback address is not a secure context).
  copy(text, button) {
    const done = () => { if (button) { button.classList.add("copied"); setTimeout(() => button.classList.remove("copied"), 1500); } };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => Console.copyFallback(text, done));
    } else {
      Console.copyFallback(text, done);
    }
  },
  copyFallback(text, done) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "hidden-copy";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* the text stays selected for Ctrl-C */ }
    area.remove();
    done();
  },
  // GET a JSON endpoint of the console; rejects with the server's one-line error.
  async getJSON(url) {
    const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
    if (!resp.ok) { throw new Error(body.error || `HTTP ${resp.status}`); }
    return body;
  },
};

// <button data-copy="text"> copies its text; <button data-copy-from="id"> copies that element's text.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy], [data-copy-from]");
  if (!button) { return; }
  event.preventDefault();
  const from = button.getAttribute("data-copy-from");
  const text = from ? (document.getElementById(from) || {}).textContent || "" : button.getAttribute("data-copy");
  Console.copy(text, button);
});

window.Console = Console;
