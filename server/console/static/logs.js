// The Logs page: drag across the histogram to zoom, "load more", and the live tail.
"use strict";

(() => {
  // ---- the histogram: drag to zoom (sets from/to in the URL); a click on a bar is its link ----
  const chart = document.querySelector("svg.histogram");
  if (chart) {
    const start = Number(chart.dataset.start), end = Number(chart.dataset.end);
    const x0 = Number(chart.dataset.x0), x1 = Number(chart.dataset.x1);
    const width = chart.viewBox.baseVal.width;
    const selection = chart.querySelector(".selection");
    let from = null, dragged = false;
    const toX = (event) => {
      const box = chart.getBoundingClientRect();
      return Math.min(x1, Math.max(x0, (event.clientX - box.left) * width / box.width));
    };
    const toMs = (x) => Math.round(start + (x - x0) / (x1 - x0) * (end - start));
    chart.addEventListener("mousedown", (event) => {
      if (event.button !== 0) { return; }
      from = toX(event);
      dragged = false;
      event.preventDefault();
    });
    window.addEventListener("mousemove", (event) => {
      if (from === null) { return; }
      const x = toX(event);
      if (Math.abs(x - from) > 4) { dragged = true; }
      selection.setAttribute("x", Math.min(from, x));
      selection.setAttribute("width", Math.abs(x - from));
      selection.classList.toggle("hidden", !dragged);
    });
    window.addEventListener("mouseup", (event) => {
      if (from === null) { return; }
      const x = toX(event), a = from;
      from = null;
      if (!dragged) { return; }
      const params = new URLSearchParams(window.location.search);
      params.set("from", new Date(toMs(Math.min(a, x))).toISOString());
      params.set("to", new Date(toMs(Math.max(a, x))).toISOString());
      params.delete("interval");  // the new window chooses its own bars
      window.location.search = params.toString();
    });
    // A drag ends over a bar: its link must not also fire.
    chart.addEventListener("click", (event) => { if (dragged) { event.preventDefault(); dragged = false; } }, true);
  }

  // ---- "load more": the next page after the last hit's cursor, until there is none ----
  const more = document.getElementById("load-more");
  if (more) {
    more.addEventListener("click", async () => {
      more.disabled = true;
      try {
        const page = await Console.getJSON(more.dataset.url);
        document.getElementById("hits").insertAdjacentHTML("beforeend", page.html);
        if (page.next) { more.dataset.url = page.next; more.disabled = false; } else { more.parentElement.remove(); }
      } catch (err) {
        more.textContent = `Load more failed: ${err.message} (click to retry)`;
        more.disabled = false;
      }
    });
  }

  // ---- live tail: poll about once a second; paused while the reader has scrolled up ----
  const tail = document.getElementById("tail");
  if (tail) {
    const lines = document.getElementById("tail-lines");
    const status = document.getElementById("tail-status");
    const KEEP = 2000;  // lines kept on the page; older ones are dropped from the top
    let tailId = "", cursor = null, busy = false, shown = 0;
    const atBottom = () => lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 24;
    let follow = true;
    lines.addEventListener("scroll", () => { follow = atBottom(); if (!follow) { status.textContent = "paused: scroll to the bottom to resume"; } });
    const poll = async () => {
      if (busy || !follow) { return; }
      busy = true;
      const params = new URLSearchParams();
      if (tailId) { params.set("tail_id", tailId); }
      if (cursor) { params.set("after_ts", cursor.ts); params.set("after_id", cursor.id); }
      try {
        const page = await Console.getJSON(`${tail.dataset.api}&${params}`);
        tailId = page.tail;
        cursor = page.cursor || cursor;
        if (page.count) {
          lines.insertAdjacentHTML("beforeend", page.html);
          shown += page.count;
          while (lines.children.length > KEEP) { lines.firstElementChild.remove(); }
          lines.scrollTop = lines.scrollHeight;
        }
        status.textContent = `live: ${shown} lines · checked ${new Date().toISOString().slice(11, 19)} UTC`;
      } catch (err) {
        status.textContent = `tail failed: ${err.message}; retrying`;
      } finally {
        busy = false;
      }
    };
    poll();
    setInterval(poll, 1000);
  }
})();
