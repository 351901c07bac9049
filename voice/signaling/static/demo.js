// The demo page's call logic: one RTCPeerConnection, one POST of the offer, one DELETE.
//
// The server is ICE-lite, so the page does not wait for its own ICE gathering and never
// trickles candidates: the server learns the browser's address from its first check.
// Everything the tests need is on window.voice: the state, the set-up timings, and the
// level and dominant frequency of the audio coming back from the agent.
//
// Two set-up marks tell "the call is up" from "the caller hears it": firstAudio is the first
// RTP packet received (the server sends silence from the moment DTLS is up, so it says
// little), firstEcho the moment the page hears its own microphone come back: the returned
// audio carries the microphone's dominant frequency (measured on the microphone itself, or
// given as ?tone=HZ), loud enough to hear.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// ?raw=1 turns the microphone's processing off, so a steady test tone is not suppressed.
const raw = params.get("raw") === "1";
// ?whip=URL posts the offer to another WHIP-shaped endpoint (the benchmarks use it to time
// the same page against a baseline server); by default, this server's own.
const whip = new URL(params.get("whip") || "/v1/sessions", location.href);
// ?tone=HZ: the microphone's tone, when known; otherwise the page measures it.
const givenTone = Number(params.get("tone")) || null;

const voice = {
  state: "idle",
  ice: "-",
  dtls: "-",
  error: null,
  sessionUrl: null,
  timings: {},        // milliseconds from the POST: answer, ice, dtls, firstAudio, firstEcho
  analyser: null,
  echoAnalyser: null, // a short window on the returned audio, to time the first echo
  micFrequency: givenTone,
  context: null,
  pc: null,
  start,
  hangup,
  level,
  dominantFrequency,
  inboundStats,
};
window.voice = voice;

const MARK_LABELS = {
  answer: "answer",
  ice: "ICE connected",
  dtls: "DTLS connected",
  firstAudio: "first packet",
  firstEcho: "first audible echo",
};

function mark(name) {
  if (voice.timings[name] === undefined && voice.t0 !== undefined) {
    voice.timings[name] = Math.round(performance.now() - voice.t0);
    $("timings").textContent = Object.entries(voice.timings)
      .map(([k, v]) => `${MARK_LABELS[k] || k} ${v} ms`)
      .join(", ");
  }
}

function show() {
  $("state").textContent = voice.state;
  $("ice").textContent = voice.ice;
  $("dtls").textContent = voice.dtls;
  $("talk").disabled = voice.state !== "idle" && voice.state !== "closed" && voice.state !== "failed";
  $("hangup").disabled = !voice.pc;
}

function fail(message) {
  voice.error = String(message);
  voice.state = "failed";
  $("error").textContent = voice.error;
  show();
}

function chosenAgent() {
  const agent = params.get("agent") || document.querySelector("input[name=agent]:checked").value;
  const query = new URLSearchParams({ agent });
  if (agent === "echo") query.set("delay", params.get("delay") || $("delay").value);
  if (agent === "tone") query.set("frequency", params.get("frequency") || $("frequency").value);
  return query;
}

async function start() {
  voice.error = null;
  voice.timings = {};
  $("error").textContent = "";
  voice.state = "starting";
  show();
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: raw ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false } : true,
    });
    voice.context = voice.context || new AudioContext();
    if (!voice.micFrequency) measureMicrophone(stream);
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    voice.pc = pc;
    pc.addTransceiver(stream.getAudioTracks()[0], { direction: "sendrecv", streams: [stream] });
    pc.oniceconnectionstatechange = () => {
      voice.ice = pc.iceConnectionState;
      if (voice.ice === "connected" || voice.ice === "completed") mark("ice");
      show();
    };
    pc.onconnectionstatechange = () => {
      voice.state = pc.connectionState;
      show();
    };
    pc.ontrack = (event) => listen(event.streams[0] || new MediaStream([event.track]));
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const transport = pc.getSenders()[0].transport;
    if (transport) {
      transport.onstatechange = () => {
        voice.dtls = transport.state;
        if (transport.state === "connected") mark("dtls");
        show();
      };
    }
    voice.t0 = performance.now();
    const response = await fetch(`${whip.href}?${chosenAgent()}`, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: pc.localDescription.sdp,
    });
    if (response.status !== 201) {
      throw new Error(`the server refused the call (${response.status}): ${await response.text()}`);
    }
    // A steering front may have redirected the POST (307): the Location is relative to
    // the URL that answered, not to the one the page posted to.
    voice.sessionUrl = new URL(response.headers.get("Location"), response.url || whip).href;
    mark("answer");
    if (window.voiceLadder) await window.voiceLadder.attach(voice.sessionUrl);
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    watchFirstAudio(pc);
    watchFirstEcho(pc);
  } catch (error) {
    fail(error);
  }
}

function listen(stream) {
  // Chromium only feeds a remote stream into Web Audio while a media element plays it.
  $("remote").srcObject = stream;
  const context = voice.context || new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  source.connect(analyser);
  voice.analyser = analyser;
  // 1024 samples (21 ms): long enough to tell a tone, short enough to time its arrival.
  const echo = context.createAnalyser();
  echo.fftSize = 1024;
  source.connect(echo);
  voice.echoAnalyser = echo;
  const tick = () => {
    if (!voice.analyser) return;
    $("level").value = level();
    requestAnimationFrame(tick);
  };
  tick();
}

async function watchFirstAudio(pc) {
  while (voice.pc === pc && voice.timings.firstAudio === undefined) {
    const stats = await inboundStats();
    if (stats && stats.packetsReceived > 0) mark("firstAudio");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// The microphone's dominant frequency, once it makes a sound: what the echo must carry.
function measureMicrophone(stream) {
  const analyser = voice.context.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0; // each reading from its own window
  voice.context.createMediaStreamSource(stream).connect(analyser);
  const look = () => {
    const samples = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(samples);
    const frequency = rmsOf(samples) > 0.01 ? strongestFrequency(analyser) : 0;
    if (frequency > 20) {
      // A first reading at once, so the echo can be recognised as soon as it comes back.
      voice.micFrequency = frequency;
      // Settled once the whole window carries the sound. At the onset only its last few
      // samples do, where the analyser's window function all but silences them, and the
      // peak can sit bins away from the tone: too far for the echo's match (within ~15 Hz).
      if (rmsOf(samples.subarray(0, samples.length / 4)) > 0.01) return;
    }
    setTimeout(look, 20);
  };
  look();
}

// Polls the returned audio every 5 ms until the microphone's tone is heard in it.
function watchFirstEcho(pc) {
  const timer = setInterval(() => {
    if (voice.pc !== pc || voice.timings.firstEcho !== undefined) {
      clearInterval(timer);
      return;
    }
    if (!voice.echoAnalyser || !voice.micFrequency) return;
    const samples = new Float32Array(voice.echoAnalyser.fftSize);
    voice.echoAnalyser.getFloatTimeDomainData(samples);
    const rate = voice.echoAnalyser.context.sampleRate;
    if (rmsOf(samples) > 0.02 && toneShare(samples, voice.micFrequency, rate) > 0.5) mark("firstEcho");
  }, 5);
}

function rmsOf(samples) {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length);
}

// The share of the window's power at `frequency` (Goertzel): near 1 for a clean tone.
function toneShare(samples, frequency, rate) {
  const coeff = 2 * Math.cos((2 * Math.PI * frequency) / rate);
  let s1 = 0, s2 = 0, total = 0;
  for (const v of samples) {
    const s0 = v + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
    total += v * v;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return total ? Math.min(1, power / ((total * samples.length) / 2)) : 0;
}

function strongestFrequency(analyser) {
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return (best * analyser.context.sampleRate) / analyser.fftSize;
}

async function inboundStats() {
  if (!voice.pc) return null;
  const report = await voice.pc.getStats();
  for (const stat of report.values()) {
    if (stat.type === "inbound-rtp" && stat.kind === "audio") return stat;
  }
  return null;
}

// Root-mean-square level of the incoming audio, 0..1.
function level() {
  if (!voice.analyser) return 0;
  const samples = new Float32Array(voice.analyser.fftSize);
  voice.analyser.getFloatTimeDomainData(samples);
  return rmsOf(samples);
}

// The frequency (Hz) of the strongest bin of the incoming audio's spectrum.
function dominantFrequency() {
  return voice.analyser ? strongestFrequency(voice.analyser) : 0;
}

async function hangup() {
  const pc = voice.pc;
  const url = voice.sessionUrl;
  voice.pc = null;
  voice.analyser = null;
  voice.echoAnalyser = null;
  voice.sessionUrl = null;
  // DELETE first (RFC 9725 §4.2): the server ends the session and says goodbye with RTCP
  // BYE and close_notify; closing our side first would race it.
  if (url) await fetch(url, { method: "DELETE" }).catch(() => {});
  if (pc) pc.close();
  voice.state = "closed";
  show();
}

$("talk").onclick = start;
$("hangup").onclick = hangup;
show();
