"""The Kubernetes manifests (deploy/k8s) and the image (Containerfile), checked without a cluster.

Each region's overlay is rendered with ``kubectl kustomize`` (whichever kubectl is
installed: Debian 12's is 1.20 with kustomize v2, newer ones have v5) and every object is
validated against the Kubernetes schemas (``kubernetes-validate``, strict: an unknown or
misspelt field fails). Then the manifests are checked against the programs they run: each
container's arguments, with its ``$(VARIABLES)`` expanded from its environment as the
kubelet would, must parse with ``voice``'s own argument parser and build a configuration,
and the ports, names and timeouts they mention must be the ones the objects declare.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import ipaddress
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import require_program
from voice import steer_cli
from voice.cli import build_parser
from voice.relay import cli as relay_cli
from voice.relay.cli import build_config as relay_config
from voice.steer.table import load_table
from voice.transceiver import cli as transceiver_cli
from voice.transceiver.cli import build_config as transceiver_config
from voice.transceiver.service import Transceiver, TransceiverConfig

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
#: Every region's overlay, and the cluster id it must give its relays and transceivers.
OVERLAYS = {"region-a": 1, "region-b": 2}
#: The steering front's overlay: one for the world, in no region.
GLOBAL = "global"
#: What each overlay must hold, beyond Namespace and ConfigMap.
REGION_KINDS = {"DaemonSet", "StatefulSet", "Service", "PodDisruptionBudget"}
KINDS = {
    **{overlay: REGION_KINDS | {"HorizontalPodAutoscaler"} for overlay in OVERLAYS},
    GLOBAL: {"Deployment", "Service", "PodDisruptionBudget"},
}
#: The oldest Kubernetes the manifests are for (policy/v1, autoscaling/v2 with behavior) and
#: the newest kubernetes-validate knows.
VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
#: The secret holding the fleet keys (created by the operator, never in git).
KEYS_SECRET = "voice-fleet-keys"
#: What ``voice.server.run_server`` gives calls to say goodbye after a drain, in seconds.
GOODBYE = 2.0

Obj = dict[str, Any]


@functools.cache
def render(overlay: str) -> tuple[Obj, ...]:
    kubectl = require_program("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def one(objects: tuple[Obj, ...], kind: str, name: str | None = None) -> Obj:
    found = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", KINDS)
def test_every_rendered_object_validates(overlay: str, version: str) -> None:
    objects = render(overlay)
    kinds = {o["kind"] for o in objects}
    assert kinds >= {"Namespace", "ConfigMap"} | KINDS[overlay]
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{overlay}: {where} is invalid for Kubernetes {version}: {exc}")
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "voice", where


# The programs' side ---------------------------------------------------------------------


def container_of(workload: Obj) -> tuple[Obj, Obj]:
    """The pod spec and the one container of a DaemonSet, StatefulSet or Deployment."""
    pod = workload["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def environment(objects: tuple[Obj, ...], container: Obj, fields: dict[str, str]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: ConfigMaps named by envFrom,
    then env entries; downward-API fields take the sample values in ``fields``."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            assert path in fields, f"no sample value for the field {path}"
            env[item["name"]] = fields[path]
    return env


def expand(args: list[str], env: dict[str, str]) -> list[str]:
    def value(m: re.Match[str]) -> str:
        assert m.group(1) in env, f"$({m.group(1)}) is not in the container's environment"
        return env[m.group(1)]

    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", value, arg) for arg in args]


def known_flags(command: str) -> set[str]:
    """Every option string ``voice <command> --help`` lists."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(commands.choices[command]._option_string_actions)


def parse(argv: list[str]) -> argparse.Namespace:
    """``voice <argv>`` parsed by the real parser; an unknown flag fails the test, and so
    does an abbreviated one (argparse would accept a unique prefix): manifests spell each
    flag out, as ``--flag=value``."""
    command, *flags = argv
    known = known_flags(command)
    for flag in flags:
        name = flag.partition("=")[0]
        assert name in known, f"voice {command} has no flag {name} (in {flag!r})"
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        try:
            return build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"voice does not accept {argv}: {errors.getvalue()}")


def ports(container: Obj) -> dict[str, tuple[int, str]]:
    return {p["name"]: (p["containerPort"], p.get("protocol", "TCP")) for p in container["ports"]}


def key_file_is_the_secret(pod: Obj, container: Obj, key_file: str) -> None:
    """--key-file names a file of the fleet-keys Secret, mounted read-only."""
    directory, _, name = key_file.rpartition("/")
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    assert mount.get("readOnly") is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == KEYS_SECRET
    assert [item["path"] for item in volume["secret"]["items"]] == [name]


def probes_use_declared_ports(container: Obj) -> None:
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] in ports(container), f"{probe} port {get['port']} is not declared"
        assert get["path"].partition("?")[0] == "/healthz"


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "fleet-keys"
    path.write_text("1:" + "ab" * 32 + "\n")
    return str(path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_relays_arguments_are_flags_voice_relay_knows(overlay: str, key_file: str) -> None:
    objects = render(overlay)
    daemonset = one(objects, "DaemonSet", "relay")
    pod, container = container_of(daemonset)
    env = environment(objects, container, {"status.hostIP": "10.99.0.7"})
    args = parse(expand(container["args"], env))
    assert args.run is relay_cli.run
    key_file_is_the_secret(pod, container, args.key_file)
    args.key_file = key_file  # the Secret's file, which exists only in the pod
    config = relay_config(args)  # every value is one the relay accepts
    assert config.cluster == OVERLAYS[overlay]

    declared = ports(container)
    assert declared["public"] == (args.port, "UDP")
    assert args.workers >= 1  # never "one per CPU of the node"
    for worker in range(args.workers):  # worker i's internal socket is internal-port + i
        assert declared[f"shim-{worker}"] == (args.internal_port + worker, "UDP")
    assert declared["metrics"] == (args.metrics_port, "TCP")
    assert pod["hostNetwork"] is True
    assert all(p.get("hostPort") == p["containerPort"] for p in container["ports"])
    probes_use_declared_ports(container)
    # The relay sends to transceivers from the node's address, which the transceivers
    # must accept; it accepts shim packets from the pod network.
    _, transceiver = container_of(one(objects, "StatefulSet", "transceiver"))
    node_network = ipaddress.ip_network(env["VOICE_NODE_NETWORK"])
    pod_network = ipaddress.ip_network(env["VOICE_POD_NETWORK"])
    assert args.internal_host == env["NODE_IP"] == "10.99.0.7"
    assert [ipaddress.ip_network(n) for n in args.transceiver_network] == [pod_network]
    t_args = parse(expand(transceiver["args"], environment(objects, transceiver, POD_FIELDS)))
    assert [ipaddress.ip_network(n) for n in t_args.relay_network] == [node_network]


#: Sample downward-API values for a transceiver pod.
POD_FIELDS = {"metadata.name": "transceiver-3"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_transceivers_agree_with_voice_transceiver_and_the_relays(
    overlay: str, key_file: str
) -> None:
    objects = render(overlay)
    statefulset = one(objects, "StatefulSet", "transceiver")
    pod, container = container_of(statefulset)
    env = environment(objects, container, POD_FIELDS)
    args = parse(expand(container["args"], env))
    assert args.run is transceiver_cli.run
    key_file_is_the_secret(pod, container, args.key_file)
    args.key_file = key_file
    config = transceiver_config(args)
    # The id is the pod's ordinal, from the pod's name.
    assert [e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]] == ["metadata.name"]
    assert args.transceiver_id == 3
    assert args.cluster == OVERLAYS[overlay]

    declared = ports(container)
    assert declared["http"] == (args.http_port, "TCP") == (config.http_port, "TCP")
    assert declared["shim"] == (args.relay_input[1], "UDP")
    probes_use_declared_ports(container)

    # The relays find pod N by the name the headless Service gives it, at its shim port.
    _, relay = container_of(one(objects, "DaemonSet", "relay"))
    relay_args = parse(expand(relay["args"], environment(objects, relay, {"status.hostIP": "x"})))
    assert relay_args.cluster == args.cluster
    host, _, port = relay_args.transceiver_dns.rpartition(":")
    name, service, namespace, *domain = host.split(".")
    assert name == statefulset["metadata"]["name"] + "-{id}"
    assert service == statefulset["spec"]["serviceName"]
    assert namespace == statefulset["metadata"]["namespace"]
    assert domain == ["svc", "cluster", "local"]
    assert int(port) == declared["shim"][0]
    headless = one(objects, "Service", service)
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True  # draining pods keep names
    # Answers advertise the relays' public address: the port they listen on.
    (advertised,) = args.advertise
    assert advertised[1] == relay_args.port
    # Relays bind the wildcard: each reply leaves from the address its caller sent to.
    assert relay_args.host == "0.0.0.0"

    # The signaling Service reaches the transceivers' HTTP port.
    signaling = one(objects, "Service", "signaling")
    labels = pod_labels(statefulset)
    assert signaling["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in signaling["spec"]["ports"]} <= declared.keys()
    assert signaling["spec"]["externalTrafficPolicy"] == "Local"  # rate limits per caller


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_leaves_room_for_the_drain(overlay: str) -> None:
    statefulset = one(render(overlay), "StatefulSet", "transceiver")
    pod, container = container_of(statefulset)
    args = parse(expand(container["args"], environment(render(overlay), container, POD_FIELDS)))
    assert args.drain_timeout > 0
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    budget = float(pre_stop[1]) + args.drain_timeout + GOODBYE
    assert pod["terminationGracePeriodSeconds"] >= budget + 5  # and some to spare
    # Liveness must not kill a draining pod; readiness must take it out of signaling.
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz?probe=liveness"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"


def pod_labels(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_budgets_and_the_autoscaler_name_what_exists(overlay: str) -> None:
    objects = render(overlay)
    workloads = {
        "relay": one(objects, "DaemonSet", "relay"),
        "transceiver": one(objects, "StatefulSet", "transceiver"),
    }
    for name, workload in workloads.items():
        budget = one(objects, "PodDisruptionBudget", name)
        selector = budget["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels(workload).items()
        assert workload["spec"]["selector"]["matchLabels"].items() <= pod_labels(workload).items()
    hpa = one(objects, "HorizontalPodAutoscaler", "transceiver")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", "transceiver")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    # The metric is a gauge each transceiver serves on /metrics.
    rendered = Transceiver(TransceiverConfig()).registry.render()
    assert f"# TYPE {metric['pods']['metric']['name']} gauge" in rendered
    assert float(metric["pods"]["target"]["averageValue"]) < float(
        _flag(workloads["transceiver"], "--max-sessions")
    )


def _flag(workload: Obj, flag: str) -> str:
    _, container = container_of(workload)
    (value,) = [a.partition("=")[2] for a in container["args"] if a.startswith(flag + "=")]
    return value


# The image ------------------------------------------------------------------------------


def containerfile() -> dict[str, str]:
    """The Containerfile's instructions (the last of each kind; every RUN, joined by ``;``),
    continuation lines joined."""
    text = (ROOT / "Containerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    instructions: dict[str, str] = {}
    for line in lines:
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            keyword = keyword.upper()
            if keyword == "RUN" and keyword in instructions:
                rest = instructions[keyword] + "; " + rest
            instructions[keyword] = rest.strip()
    return instructions


def test_the_image_is_debian_python_non_root_and_runs_voice() -> None:
    image = containerfile()
    base = re.fullmatch(r"\S*python:(3\.\d+)-slim-(bookworm|trixie)", image["FROM"])
    assert base is not None, image["FROM"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert base.group(1) == pyproject["tool"]["mypy"]["python_version"]
    assert image["ENTRYPOINT"] == '["voice"]'
    assert "pip install -c requirements/constraints.txt ." in image["RUN"]
    assert "espeak-ng" in image["RUN"]  # the talk agent's voice
    user, _, group = image["USER"].partition(":")
    assert user.isdigit() and int(user) != 0 and group.isdigit() and int(group) != 0
    images = set()
    for overlay in KINDS:
        for workload in render(overlay):
            if workload["kind"] not in ("DaemonSet", "StatefulSet", "Deployment"):
                continue
            pod, container = container_of(workload)
            assert pod["securityContext"]["runAsUser"] == int(user)
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert container.get("command") is None  # the image's entrypoint: voice
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            resources = container["resources"]
            assert resources["requests"].keys() == resources["limits"].keys() == {"cpu", "memory"}
            images.add(container["image"])
    assert len(images) == 1  # one image for every program, the front's as the regions'


# The steering front ----------------------------------------------------------------------


def regions_file(objects: tuple[Obj, ...], pod: Obj, container: Obj, path: str) -> str:
    """The text of the file ``path`` names: a file of a ConfigMap mounted read-only."""
    directory, _, name = path.rpartition("/")
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    assert mount.get("readOnly") is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config_map = one(objects, "ConfigMap", volume["configMap"]["name"])  # the hashed name
    (item,) = [i for i in volume["configMap"]["items"] if i["path"] == name]
    text: str = config_map["data"][item["key"]]
    return text


def test_the_steering_front_agrees_with_voice_steer(tmp_path: Path) -> None:
    objects = render(GLOBAL)
    # Global: the front and nothing of a region's fleet.
    assert not {o["kind"] for o in objects} & {"DaemonSet", "StatefulSet"}
    deployment = one(objects, "Deployment", "steer")
    pod, container = container_of(deployment)
    args = parse(expand(container["args"], environment(objects, container, {})))
    assert args.run is steer_cli.run
    assert args.host == "0.0.0.0"  # reachable from the Service, not only inside the pod
    assert 0.05 <= args.interval <= 3600  # what voice steer accepts

    # Its regions file is a ConfigMap's, and voice steer's loader takes it.
    path = tmp_path / "regions.toml"
    path.write_text(regions_file(objects, pod, container, str(args.regions)))
    table = load_table(path)
    assert [r.name for r in table.regions] == list(OVERLAYS)
    for region in table.regions:
        # Browsers are sent there from an https page: the region must be https too.
        assert region.signaling.startswith("https://"), region.signaling
    # Every region is first for some callers.
    assert {names[0] for _, names in table.prefixes} == set(OVERLAYS)

    declared = ports(container)
    assert declared["http"] == (args.http_port, "TCP")
    probes_use_declared_ports(container)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels(deployment).items()

    # The Service reaches the front, and keeps the caller's address, which steering needs.
    service = one(objects, "Service", "steer")
    assert service["spec"]["selector"].items() <= pod_labels(deployment).items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= declared.keys()
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == "Local"

    # Voluntary disruptions leave at least one front of the two.
    budget = one(objects, "PodDisruptionBudget", "steer")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels(deployment).items()
    assert 1 <= budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]

    # The pre-stop pause and the front's own graceful stop fit in the grace period.
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] >= float(pre_stop[1]) + 5


def test_the_regions_are_ready_for_what_the_front_sends_them(tmp_path: Path) -> None:
    objects = render(GLOBAL)
    pod, container = container_of(one(objects, "Deployment", "steer"))
    args = parse(expand(container["args"], environment(objects, container, {})))
    path = tmp_path / "regions.toml"
    path.write_text(regions_file(objects, pod, container, str(args.regions)))
    table = load_table(path)
    origins = set()
    for overlay in OVERLAYS:
        region_objects = render(overlay)
        _, transceiver = container_of(one(region_objects, "StatefulSet", "transceiver"))
        t_env = environment(region_objects, transceiver, POD_FIELDS)
        t_args = parse(expand(transceiver["args"], t_env))
        _, relay = container_of(one(region_objects, "DaemonSet", "relay"))
        r_env = environment(region_objects, relay, {"status.hostIP": "10.99.0.7"})
        r_args = parse(expand(relay["args"], r_env))
        # A page on the front's origin completes its redirected POST at the region
        # (VOICE-STEER §2): the region allows that origin, one and the same everywhere.
        (origin,) = t_args.cors_origin
        origins.add(origin)
        # The front skips a region when the pod its probe lands on is nearly full: below
        # what one transceiver takes, above what the autoscaler aims each pod at.
        region = table.by_name(overlay)
        hpa = one(region_objects, "HorizontalPodAutoscaler", "transceiver")
        target = float(hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"])
        assert target < region.capacity < t_args.max_sessions
        # Ingress names in the redirect must be ones the region takes (VOICE-STEER §4), and
        # an ingress of another region is of use only where relays forward other clusters'
        # media (VOICE-RELAY §12).
        named = {r.ingress for r in table.regions if r.ingress is not None}
        forwards = bool(r_args.fleet or r_args.cluster_relay or r_args.fleet_dns)
        if forwards:
            assert named <= {name for name, _ in t_args.ingress or ()}
        else:
            assert not named, "the front names ingresses, but the relays carry no other cluster"
    (origin,) = origins
    assert origin.startswith("https://")
    assert all(not r.signaling.startswith(origin) for r in table.regions)
