// The protocol ladder: the call drawn as it happens, one arrow per datagram that matters.
//
// The page opens the session's trace (server-sent events, GET <session URL>/trace) right
// after the answer arrives and before it applies it, so the ladder starts with the first
// ICE check. Each record is one datagram the server decoded (voice.trace): STUN checks and
// consent checks, every DTLS flight (the Finished messages decrypted), the first SRTP packet
// each way (then a running count), RTCP reports. An arrow names the RFC section of its
// message, linked to the rows of spec/ that cover that section (served at /spec/ when the
// server runs from its source tree) and to the RFC's text; clicking it shows every decoded
// field.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const ladder = {
    rows: [],          // {kind, dir, summary} in arrival order, for tests and the curious
    media: { in: 0, out: 0 },
    source: null,
    spec: null,        // Promise of /spec/index.json ({} when the server has no spec/)
    attach,
  };
  window.voiceLadder = ladder;

  function enabled() {
    const box = document.getElementById("ladder-on");
    return params.get("ladder") === "1" || (box !== null && box.checked);
  }

  function rfcLink(cite) {
    // "RFC 8489 §14.5" -> the section in the RFC Editor's HTML text.
    const m = /^RFC (\d+) §([0-9A-Za-z.]+)$/.exec(cite || "");
    if (!m) return null;
    const section = /^[A-Z]/.test(m[2]) ? `appendix-${m[2]}` : `section-${m[2]}`;
    return `https://www.rfc-editor.org/rfc/rfc${m[1]}#${section}`;
  }

  function specIndex(base) {
    if (ladder.spec === null) {
      ladder.spec = fetch(new URL("/spec/index.json", base))
        .then((r) => (r.ok ? r.json() : {}))
        .catch(() => ({}));
    }
    return ladder.spec;
  }

  function specLink(index, cite) {
    // "RFC 8489 §14.5" -> the row covering it, or the section's anchor listing several rows;
    // a subsection no row names falls back to its parent section. null: no row covers it.
    const m = /^(.+) §([0-9A-Za-z.]+)$/.exec(cite || "");
    const doc = m && index[m[1]];
    if (!doc) return null;
    for (let section = m[2]; section; section = section.replace(/\.?[^.]*$/, "")) {
      const rows = doc.sections[section];
      if (rows && rows.length) {
        return { href: `${doc.page}#${rows.length === 1 ? rows[0] : `s-${section}`}`, rows };
      }
    }
    return null;
  }

  function mainCite(tree) {
    // The datagram's first child that names a message (the STUN message, a DTLS record...).
    for (const child of tree.children || []) if (child.cite && child.children) return child.cite;
    return tree.cite;
  }

  function treeText(node, depth = 0) {
    const value = node.value === undefined ? "" : `: ${node.value}`;
    const cite = node.cite ? `   (${node.cite})` : "";
    const lines = [`${"  ".repeat(depth)}${node.name}${value}${cite}`];
    for (const child of node.children || []) lines.push(treeText(child, depth + 1));
    return lines.join("\n");
  }

  function draw(record) {
    const box = document.getElementById("ladder");
    if (!box) return;
    const row = document.createElement("div");
    row.className = `rung ${record.kind} ${record.dir}`;
    const arrow = record.dir === "in" ? "browser ──────▶ server" : "browser ◀────── server";
    const cite = mainCite(record.tree || {});
    const href = rfcLink(cite);
    row.innerHTML = `<span class="arrow"></span> <span class="what"></span> `;
    row.querySelector(".arrow").textContent = arrow;
    row.querySelector(".what").textContent = record.summary;
    const details = document.createElement("pre");
    details.hidden = true;
    details.textContent = treeText(record.tree || { name: "datagram" });
    row.appendChild(details);
    const addLink = (url, text, className) => {
      const link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      link.className = className;
      link.textContent = text;
      row.insertBefore(link, details);
      return link;
    };
    if (href) {
      const rfc = addLink(href, cite, "rfc");
      (ladder.spec || Promise.resolve({})).then((index) => {
        const spec = specLink(index, cite);
        if (spec) {
          rfc.textContent = "(RFC text)";
          const link = addLink(spec.href, `${cite}: ${spec.rows.join(", ")}`, "spec");
          row.insertBefore(link, rfc);
          row.insertBefore(document.createTextNode(" "), rfc);
        }
      });
    }
    row.onclick = (event) => {
      if (event.target.tagName !== "A") details.hidden = !details.hidden;
    };
    box.appendChild(row);
  }

  function receive(record) {
    if (record.kind === "rtp") {
      ladder.media[record.dir] += 1;
      const counter = document.getElementById("ladder-media");
      if (counter) counter.textContent = `SRTP packets: ${ladder.media.in} to the server, ${ladder.media.out} back`;
      if (ladder.media[record.dir] > 1) return;   // only the first packet each way
    }
    ladder.rows.push({ kind: record.kind, dir: record.dir, summary: record.summary });
    draw(record);
  }

  // Resolves once the server is tracing the session (or at once when the ladder is off), so
  // that the caller applies the answer, and starts ICE, only after that.
  function attach(sessionUrl) {
    if (!enabled() || !sessionUrl) return Promise.resolve();
    const url = new URL(sessionUrl);
    url.pathname += "/trace";
    specIndex(url);
    const box = document.getElementById("ladder");
    if (box) box.replaceChildren();
    ladder.rows = [];
    ladder.media = { in: 0, out: 0 };
    return new Promise((resolve) => {
      const source = new EventSource(url.href);
      ladder.source = source;
      const timer = setTimeout(resolve, 2000);   // never hold a call up for the ladder
      source.addEventListener("ready", () => { clearTimeout(timer); resolve(); });
      source.addEventListener("end", () => source.close());
      source.onmessage = (event) => receive(JSON.parse(event.data));
      source.onerror = () => { clearTimeout(timer); source.close(); resolve(); };
    });
  }
})();
