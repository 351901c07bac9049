"""Debian's Firefox ESR driven over Marionette, with a fake microphone and a silent speaker.

Why not Playwright: it drives only its own patched Firefox builds, which cannot be
downloaded here; a stock ``firefox-esr`` speaks Marionette (and WebDriver BiDi) instead.
Marionette is the simpler of the two: length-prefixed JSON over one TCP connection, which a
page of Python speaks without any new dependency (:class:`Marionette`).

What a call from Firefox needs, found by trying (each is a pref in :data:`PREFS`):

* ``media.navigator.streams.fake`` gives a fake microphone (it plays a 1 kHz tone,
  :data:`FAKE_MICROPHONE_HZ`); ``media.navigator.permission.disabled`` grants it without a
  prompt; ``media.navigator.permission.fake`` makes Firefox treat the grant as real, which
  is what lets ICE gather host candidates beyond the default route (without it there is no
  loopback candidate, and a server on 127.0.0.1 is never reached).
* Firefox renders audio only through a real output stream, and an ``AudioContext`` stays
  suspended while there is none: :func:`pulseaudio_null_sink` runs a private PulseAudio
  server whose only sink is a null sink, so the page's analyser sees the remote audio.
* The profile is a fresh temporary directory, and the prefs keep Firefox off every network
  (updates, telemetry, captive-portal and connectivity checks, safe browsing, remote
  settings): the tests run in a network namespace that has only loopback anyway.

Firefox starts in a process group of its own (its content processes join it), and
:func:`firefox` kills the whole group when it ends, however the test ended.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

FIREFOX = "/usr/bin/firefox-esr"
PULSEAUDIO = "/usr/bin/pulseaudio"

#: The frequency of the tone Firefox's fake microphone plays (its default).
FAKE_MICROPHONE_HZ = 1000

PREFS: dict[str, bool | int | str] = {
    # Marionette picks a free port and says which on its output.
    "marionette.port": 0,
    # The microphone: fake, granted, and treated as granted for ICE's sake (see above).
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.navigator.permission.fake": True,
    "media.navigator.audio.fake_frequency": FAKE_MICROPHONE_HZ,
    # Audio plays and AudioContexts run without a user gesture.
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    # ICE: plain host candidates (no mDNS names), loopback included.
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.loopback": True,
    # Off the network: no updates, telemetry, studies, pings or background checks.
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "network.trr.mode": 5,
    "network.proxy.type": 0,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "",
    "services.settings.server": "",
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "browser.search.update": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-manager.url": "",
    "geo.provider.network.url": "",
    "dom.push.connection.enabled": False,
    "browser.ping-centre.telemetry": False,
    "browser.newtabpage.activity-stream.feeds.telemetry": False,
    "browser.newtabpage.activity-stream.telemetry": False,
    # A quiet start: no first-run pages, default-browser check or crash-restore prompt.
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.firstRunURL": "",
    "browser.sessionstore.resume_from_crash": False,
    "toolkit.startup.max_resumed_crashes": -1,
}

_LISTENING = re.compile(r"Marionette\s+INFO\s+Listening on port (\d+)")
_PULSE_READY = "Daemon startup complete."


class MarionetteError(RuntimeError):
    """A command failed in the browser (its WebDriver error name, message and stack)."""


class Marionette:
    """A client of Marionette's wire protocol (version 3), enough for the tests' pages.

    Each message is ``<decimal length>:<JSON>``. A command is ``[0, id, name, params]`` and
    its answer ``[1, id, error, result]``; one command is outstanding at a time, so answers
    come back in order.
    """

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 60.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""
        self._next_id = 0
        hello = self._receive()
        if not isinstance(hello, dict) or hello.get("marionetteProtocol") != 3:
            raise MarionetteError(f"not a Marionette server (protocol 3): {hello!r}")

    def close(self) -> None:
        self._sock.close()

    def _receive(self) -> Any:
        while b":" not in self._buffer:
            self._fill()
        length, _, self._buffer = self._buffer.partition(b":")
        size = int(length)
        while len(self._buffer) < size:
            self._fill()
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        return json.loads(body)

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise MarionetteError("Marionette closed the connection")
        self._buffer += chunk

    def command(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        """Sends one command and returns its result's ``value`` (or the whole result)."""
        self._next_id += 1
        message = json.dumps([0, self._next_id, name, dict(params or {})]).encode()
        self._sock.sendall(str(len(message)).encode() + b":" + message)
        kind, msg_id, error, result = self._receive()
        if kind != 1 or msg_id != self._next_id:
            raise MarionetteError(f"answer out of order: {[kind, msg_id]}")
        if error is not None:
            raise MarionetteError(
                f"{name}: {error.get('error')}: {error.get('message')}\n{error.get('stacktrace')}"
            )
        if isinstance(result, dict) and set(result) == {"value"}:
            return result["value"]
        return result


_WARM_UP_SCRIPT = """(async () => {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(stream).connect(analyser);
  window.voiceWarmMicrophone = { stream, context, analyser };
  const samples = new Float32Array(analyser.fftSize);
  const started = performance.now();
  for (;;) {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    if (Math.sqrt(sum / samples.length) > 0.02) return performance.now() - started;
    if (performance.now() - started > 20000) throw new Error("the fake microphone stayed silent");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
})()"""

# An expression, polled inside the page until it is truthy or the deadline passes.
_WAIT_SCRIPT = """
const [source, timeout] = arguments;
const condition = new Function("return (" + source + ");");
const deadline = performance.now() + timeout;
// A promise (e.g. from getStats) counts by what it resolves to.
return (async () => {
  for (;;) {
    const value = await condition();
    if (value) return { value };
    if (performance.now() > deadline) return { timedOut: true };
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
})();
"""


@dataclass
class FirefoxPage:
    """One tab, with the few calls the browser tests make of a Playwright ``Page``."""

    browser: Firefox
    handle: str

    def _select(self) -> Marionette:
        client = self.browser.client
        if self.browser.current != self.handle:
            client.command("WebDriver:SwitchToWindow", {"handle": self.handle, "focus": True})
            self.browser.current = self.handle
        return client

    def goto(self, url: str) -> None:
        """Loads ``url``; with the browser's ``warm_microphone``, then warms the microphone."""
        self._select().command("WebDriver:Navigate", {"url": url})
        if self.browser.warm_microphone:
            self.warm_up_microphone()

    def warm_up_microphone(self) -> float:
        """Opens the fake microphone and waits until it sounds; returns how long that took
        (ms).

        Firefox's fake device is silent for about 1.3 s after a page first opens it (its
        audio graph starting); a call placed meanwhile sends silence, and any "first
        audible echo" figure would measure Firefox, not the server. The stream is kept
        open on the page (``window.voiceWarmMicrophone``), so the call's own
        ``getUserMedia`` gets a device that is already running.
        """
        return float(self.evaluate(_WARM_UP_SCRIPT))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page; a promise is awaited."""
        script = f"return ({expression});"
        return self._select().command("WebDriver:ExecuteScript", {"script": script, "args": []})

    def wait_for_function(self, expression: str, timeout: float = 30_000) -> Any:
        """Waits (in the page) until ``expression`` is truthy; ``timeout`` in ms, as
        Playwright's. Fails with the expression if it never becomes true."""
        result = self._select().command(
            "WebDriver:ExecuteScript", {"script": _WAIT_SCRIPT, "args": [expression, timeout]}
        )
        if result.get("timedOut"):
            raise TimeoutError(f"not true within {timeout} ms in Firefox: {expression}")
        return result["value"]

    def close(self) -> None:
        """Closes the tab; the session carries on in the first one."""
        client = self._select()
        client.command("WebDriver:CloseWindow")
        client.command("WebDriver:SwitchToWindow", {"handle": self.browser.first_tab})
        self.browser.current = self.browser.first_tab


@dataclass
class Firefox:
    """A running Firefox and its Marionette session."""

    process: subprocess.Popen[str]
    client: Marionette
    first_tab: str
    current: str | None = None
    output: list[str] = field(default_factory=list)
    #: Whether :meth:`FirefoxPage.goto` warms the fake microphone up (see there).
    warm_microphone: bool = True

    def new_page(self) -> FirefoxPage:
        """A new tab (the first, blank one stays open so the session outlives any page)."""
        handle = self.client.command("WebDriver:NewWindow", {"type": "tab", "focus": True})
        return FirefoxPage(self, handle["handle"])


def write_profile(directory: Path, prefs: Mapping[str, bool | int | str] = PREFS) -> Path:
    """A fresh profile: only a user.js with ``prefs``."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        f"user_pref({json.dumps(name)}, {json.dumps(value)});" for name, value in prefs.items()
    ]
    (directory / "user.js").write_text("\n".join(lines) + "\n")
    return directory


class _Lines:
    """A child's output, line by line, for waiting on the line that says it is ready."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._eof = False
        threading.Thread(target=self._pump, args=(process.stdout,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float, what: str) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while not self._eof and (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self._eof = True
                break
            self.seen.append(line)
            if m := regex.search(line):
                return m
        tail = "\n".join(self.seen[-30:])
        raise RuntimeError(f"{what} did not start (no line {pattern!r}); last lines:\n{tail}")


_PR_SET_PDEATHSIG = 1
# Looked up here, not in the forked child, where loading anything could deadlock.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """In the child before exec: a SIGKILL when the process that started us dies, so a
    test runner killed outright leaves no browser or sound server behind."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _start(argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Starts ``argv`` as the leader of a new process group, output merged and piped."""
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(env),
        start_new_session=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 (one foreign call, nothing loaded)
    )


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILLs the process group the child leads (the child and all it started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def pulseaudio_null_sink(runtime_dir: Path) -> Iterator[dict[str, str]]:
    """A private PulseAudio server with one null sink; yields the environment that points
    a client (Firefox) at it. The server is this process's child, killed when done."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir.chmod(0o700)
    socket_path = runtime_dir / "native"
    env = {
        **os.environ,
        "HOME": str(runtime_dir),
        "XDG_RUNTIME_DIR": str(runtime_dir),
        "XDG_CONFIG_HOME": str(runtime_dir / "config"),
    }
    argv = [
        PULSEAUDIO,
        "-n",  # no default.pa: only the modules below
        "--daemonize=no",
        "--exit-idle-time=-1",
        "--disallow-exit",
        "--use-pid-file=no",
        "--log-target=stderr",
        "--log-level=info",
        "-L",
        f"module-native-protocol-unix socket={socket_path} auth-anonymous=1",
        "-L",
        "module-null-sink sink_name=voice_null",
    ]
    process = _start(argv, env)
    try:
        _Lines(process).wait_for(re.escape(_PULSE_READY), timeout=20, what="PulseAudio")
        yield {"PULSE_SERVER": f"unix:{socket_path}", "PULSE_SINK": "voice_null"}
    finally:
        _kill_group(process)


@contextmanager
def firefox(
    env: Mapping[str, str] | None = None, *, warm_microphone: bool = True
) -> Iterator[Firefox]:
    """Yields a headless Firefox ESR with a fresh profile and a Marionette session.

    ``env`` is added to Firefox's environment (e.g. :func:`pulseaudio_null_sink`'s). The
    profile lives in a temporary directory removed afterwards; Firefox and every process
    it started are killed when the block ends.
    """
    home = Path(tempfile.mkdtemp(prefix="voice-firefox-"))
    profile = write_profile(home / "profile")
    argv = [FIREFOX, "--headless", "--marionette", "--no-remote", "--profile", str(profile)]
    process = _start(
        argv,
        {
            **os.environ,
            "HOME": str(home),
            "MOZ_HEADLESS": "1",
            "MOZ_CRASHREPORTER_DISABLE": "1",
            **(env or {}),
        },
    )
    client: Marionette | None = None
    try:
        lines = _Lines(process)
        port = int(lines.wait_for(_LISTENING.pattern, timeout=60, what="Firefox").group(1))
        client = Marionette(port)
        client.command("WebDriver:NewSession", {"timeouts": {"script": 120_000}})
        first = client.command("WebDriver:GetWindowHandle")
        yield Firefox(process, client, first, first, lines.seen, warm_microphone)
    finally:
        if client is not None:
            client.close()
        _kill_group(process)
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def firefox_with_speaker(*, warm_microphone: bool = True) -> Iterator[Firefox]:
    """:func:`firefox` with a private PulseAudio null sink as its audio output, which the
    page's ``AudioContext`` needs to run at all. Both are gone when the block ends."""
    with (
        tempfile.TemporaryDirectory(prefix="voice-pulse-") as runtime,
        pulseaudio_null_sink(Path(runtime)) as env,
        firefox(env, warm_microphone=warm_microphone) as browser,
    ):
        yield browser


class CallPage(Protocol):
    """What :func:`time_call` needs of a page: Playwright's ``Page`` and
    :class:`FirefoxPage` both have it."""

    def goto(self, url: str) -> Any: ...
    def evaluate(self, expression: str) -> Any: ...
    def wait_for_function(self, expression: str, timeout: float = ...) -> Any: ...


#: The level (RMS over the page analyser's 8192-sample window, 171 ms) above which the
#: returned tone counts as heard. Firefox's fake microphone is quiet (RMS 0.07): at the demo
#: page's usual 0.05, half the window must already hold the tone, ~85 ms after it first
#: arrives. At 0.01 about 2 % must, as at 0.05 for the tests' Chromium tone (RMS 0.35), so
#: the figure is comparable between the two browsers.
ECHO_LEVEL = 0.01

#: The set-up marks of a call, in the order they happen (ms from just before the POST).
MARKS = ("answer", "ice", "dtls", "firstAudio", "echo")

# Watches the audio coming back for the caller's own tone and records when it is first
# heard ("echo"), on the page's clock, from the same instant as demo.js's own marks.
_ECHO_PROBE = """(() => {
  const [hz, level] = [%r, %r];
  const timer = setInterval(() => {
    if (voice.t0 === undefined || !voice.analyser) return;
    if (voice.level() > level && Math.abs(voice.dominantFrequency() - hz) < 25) {
      window.voiceEcho = Math.round(performance.now() - voice.t0);
      clearInterval(timer);
    }
  }, 5);
  return true;
})()"""


def time_call(
    page: CallPage,
    page_url: str,
    tone_hz: float,
    min_level: float = ECHO_LEVEL,
    timeout: float = 20,
) -> dict[str, float]:
    """Places one call from the demo page at ``page_url`` (its query picks the agent) and
    returns its set-up marks (:data:`MARKS`, ms from just before the POST); ``echo`` is the
    moment the page first hears ``tone_hz`` in what comes back (the caller's own tone
    through the echo agent, or the tone agent's) above ``min_level`` (see
    :data:`ECHO_LEVEL`; for a Chromium page playing ``write_tone_wav``'s tone, 0.05). The
    call is left up: the caller checks what it wants and hangs up (``voice.hangup()``)."""
    page.goto(page_url)
    page.evaluate(_ECHO_PROBE % (float(tone_hz), float(min_level)))
    page.evaluate("voice.start()")
    page.wait_for_function(
        "(window.voiceEcho !== undefined && voice.timings.firstAudio !== undefined) || voice.error",
        timeout=timeout * 1000,
    )
    error = page.evaluate("voice.error")
    if error is not None:
        raise AssertionError(f"the call failed: {error}")
    timings = dict(page.evaluate("voice.timings"))
    timings["echo"] = page.evaluate("window.voiceEcho")
    return {mark: float(timings[mark]) for mark in MARKS if mark in timings}


def median_timings(calls: list[dict[str, float]]) -> dict[str, float]:
    """The median of each mark over several calls."""
    return {
        mark: statistics.median(c[mark] for c in calls)
        for mark in MARKS
        if all(mark in c for c in calls)
    }
