// The transcript of a conversing agent (talk, bridge): one line per turn, as it happens.
// It long-polls the session's transcript resource while a call is up; kept apart from
// demo.js, which places the call. Tests read window.voice.transcript.
"use strict";

(() => {
  const box = document.getElementById("transcript");
  const voice = window.voice;
  const conversing = new Set(["talk", "bridge"]);
  voice.transcript = [];
  let polling = null;

  function chosenAgent() {
    const params = new URLSearchParams(location.search);
    return params.get("agent") || document.querySelector("input[name=agent]:checked").value;
  }

  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function poll(url) {
    let after = 0;
    while (voice.sessionUrl === url) {
      let response;
      try {
        // The session URL carries its key as a query (?key=...): the transcript is a
        // sub-resource of the path, and the key goes along.
        const where = new URL(url, location.href);
        where.pathname += "/transcript";
        where.searchParams.set("after", after);
        response = await fetch(where);
      } catch (error) {
        await pause(500);
        continue;
      }
      if (response.status === 404) {
        await pause(300); // the agent starts once the call is connected
        continue;
      }
      if (!response.ok) break;
      const body = await response.json();
      for (const line of body.lines) {
        voice.transcript.push({ role: line.role, text: line.text, at: performance.now() });
        const item = document.createElement("li");
        item.className = line.role;
        item.textContent = `${line.role === "caller" ? "you" : "agent"}: ${line.text}`;
        box.append(item);
      }
      after = body.next;
    }
    if (polling === url) polling = null;
  }

  setInterval(() => {
    const url = voice.sessionUrl;
    if (url && polling !== url && conversing.has(chosenAgent())) {
      polling = url;
      voice.transcript = [];
      box.replaceChildren();
      poll(url);
    }
  }, 200);
})();
