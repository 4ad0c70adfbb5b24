"""Images end to end, through a real engine (podman here and in CI): `pinion base build`
makes an offline Debian base, `pinion build` builds examples/hello and examples/digits
on it, and the images are inspected, run with `pinion predict --image`, served with
`pinion serve --image` and called over HTTP, pushed to a real registry
(docker-registry on 127.0.0.1), removed, pulled back and run again.

The base image and the two example images are built once per session (fixtures);
a base left by an earlier session is reused. A missing engine or mmdebstrap fails the
tests (scripts/install-deps installs them); they skip, with the reason, only when the
installed engine cannot run containers here."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import EXAMPLES, PINION, ROOT, run_pinion

BASE = "localhost/pinion-test-base:3.11"
BUILDER = "localhost/pinion-test-base-builder:3.11"
OFFLINE = "localhost/pinion-test-offline"
HELLO = "localhost/pinion-test-hello"
DIGITS = "localhost/pinion-test-digits"
NETWORK = "localhost/pinion-test-image-network"
BUILD_TIMEOUT = 900


def _missing_tools():
    """What scripts/install-deps installs but is not here: a failure, not a skip."""
    missing = []
    if not shutil.which("podman") and not shutil.which("docker"):
        missing.append("a container engine (podman)")
    if not shutil.which("mmdebstrap"):
        missing.append("mmdebstrap")
    return missing


def _engine_problem():
    """Why the installed engine cannot run containers here (a sandbox without user
    namespaces, say), or None: the one reason these tests skip."""
    probe = run_pinion("inspect", "pinion-probe-no-such-image", timeout=60)
    if "no container engine is usable" in probe.stderr:
        return probe.stderr.strip()
    return None


MISSING = _missing_tools()
PROBLEM = None if MISSING else _engine_problem()


@pytest.fixture(scope="session", autouse=True)
def engine_usable():
    assert not MISSING, "not installed: %s; run scripts/install-deps" % ", ".join(MISSING)
    if PROBLEM:
        pytest.skip(PROBLEM)


def _podman(*args, **kwargs):
    """The engine directly, with pinion's settings (for what pinion has no command for)."""
    env = dict(os.environ)
    conf = os.path.expanduser("~/.config/pinion")
    for name, var in (("containers.conf", "CONTAINERS_CONF"), ("storage.conf", "CONTAINERS_STORAGE_CONF")):
        if os.path.exists(os.path.join(conf, name)):
            env.setdefault(var, os.path.join(conf, name))
    return subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=300, **kwargs)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def base_image():
    """The test base and its builder (pinion's build tools), made once and reused."""
    labels = run_pinion("inspect", BASE, timeout=60)
    labels = json.loads(labels.stdout) if labels.returncode == 0 else {}
    if labels.get("run.pinion.base") == "debian" and labels.get("run.pinion.builder") == BUILDER \
            and run_pinion("inspect", BUILDER, timeout=60).returncode == 0:
        return BASE
    result = run_pinion("base", "build", "--python", "3.11", "-t", BASE,
                        "--package", "python3-sklearn", "--package", "python3-pil", timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    return BASE


def _build(example, tag, base, *extra, cwd=None):
    result = run_pinion("build", "-t", tag, "--base-image", base, *extra,
                        cwd=cwd or os.path.join(EXAMPLES, example), timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="session")
def hello_image(base_image):
    _build("hello", HELLO, base_image)
    return HELLO


@pytest.fixture(scope="session")
def digits_image(base_image):
    _build("digits", DIGITS, base_image)
    return DIGITS


def _labels(image):
    result = run_pinion("inspect", image, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_labels_carry_config_schema_and_freeze(hello_image):
    labels = _labels(hello_image)
    assert labels["run.cog.version"]
    assert json.loads(labels["run.cog.config"])["run"] == "predict.py:Predictor"
    assert labels["run.cog.has_init"] == "true"
    assert "numpy==" in labels["run.cog.pip_freeze"]
    assert labels["org.opencontainers.image.created"].endswith("Z")
    folder_schema = run_pinion("schema", cwd=os.path.join(EXAMPLES, "hello"))
    assert folder_schema.returncode == 0, folder_schema.stderr
    assert json.loads(labels["run.cog.openapi_schema"]) == json.loads(folder_schema.stdout)
    # The same document is in the image where Cog keeps it.
    bundled = run_pinion("exec", "--image", hello_image, "--", "cat", "/src/.cog/openapi_schema.json",
                         timeout=120)
    assert bundled.returncode == 0, bundled.stderr
    assert json.loads(bundled.stdout) == json.loads(folder_schema.stdout)


def test_predict_image_hello(hello_image, tmp_path):
    result = run_pinion("predict", "--image", hello_image, "-i", "text=world", cwd=tmp_path, timeout=120)
    assert (result.returncode, result.stdout) == (0, "hello there, world\n"), result.stderr


def test_predict_image_digits_file_input(digits_image, tmp_path):
    sample = os.path.join(EXAMPLES, "digits", "sample.png")
    result = run_pinion("predict", "--image", digits_image, "-i", f"image=@{sample}", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] == 8
    folder = run_pinion("schema", cwd=os.path.join(EXAMPLES, "digits"))
    assert json.loads(_labels(digits_image)["run.cog.openapi_schema"]) == json.loads(folder.stdout)


def test_serve_image_over_http(hello_image):
    port = _free_port()
    env = dict(os.environ, NO_COLOR="1")
    server = subprocess.Popen([PINION, "serve", "--image", hello_image, "--port", str(port)],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/health-check", timeout=2).json()["status"]
                if status == "READY":
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        assert status == "READY"
        response = requests.post(f"http://127.0.0.1:{port}/predictions",
                                 json={"input": {"text": "HTTP"}}, timeout=30)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "succeeded"
        assert "".join(body["output"]) == "hello there, HTTP"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def registry(tmp_path):
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.path.exists(binary):
        pytest.fail("docker-registry is not installed (scripts/install-deps installs it)")
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_push_remove_pull_predict(hello_image, base_image, registry, tmp_path):
    remote = f"{registry}/hello:test"
    _build("hello", remote, base_image)
    pushed = run_pinion("push", remote, cwd=tmp_path, timeout=300)
    assert pushed.returncode == 0, pushed.stderr
    tags = requests.get(f"http://{registry}/v2/hello/tags/list", timeout=5).json()
    assert tags["tags"] == ["test"]
    assert _podman("rmi", "-f", remote).returncode == 0
    assert run_pinion("inspect", remote, timeout=60).returncode != 0
    result = run_pinion("predict", "--image", remote, "-i", "text=again", cwd=tmp_path, timeout=300)
    assert (result.returncode, result.stdout) == (0, "hello there, again\n"), result.stderr
    assert json.loads(_labels(remote)["run.cog.openapi_schema"])["openapi"] == "3.0.2"


def test_edit_predict_rebuilds_only_the_code(base_image, hello_image, tmp_path):
    project = tmp_path / "hello"
    shutil.copytree(os.path.join(EXAMPLES, "hello"), project)
    tag = "localhost/pinion-test-edit"
    _build("hello", tag, base_image, cwd=project)
    with open(project / "predict.py", "a") as source:
        source.write(f"\n# edited {time.time()}\n")
    result = _build("hello", tag, base_image, "--progress", "plain", cwd=project)
    main_build = result.stderr.split("Generating the schema")[0]
    steps = [line for line in main_build.splitlines() if "STEP" in line or "Using cache" in line]
    assert steps[-1].endswith("COPY . /src"), steps[-3:]
    assert sum("Using cache" in line for line in steps) >= 10, "\n".join(steps)
    _podman("rmi", "-f", tag)


def test_exec_runs_in_the_image(hello_image):
    result = run_pinion("exec", "--image", hello_image, "--", "python3", "-c",
                        "import cog, sys; print(cog.__file__, sys.version_info[:2])", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("/usr/local/lib/pinion/python/cog/__init__.py (3, 11)")


def _offline(*args, cwd, timeout):
    """pinion with no network at all: in a network namespace of its own, where only a
    loopback interface exists (the engine and every build step run in it too)."""
    return subprocess.run(["unshare", "--net", PINION, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, NO_COLOR="1"))


def _offline_project(tmp_path, **changes):
    """tests/fixtures/image_offline, with cog.yaml lines replaced."""
    project = tmp_path / "offline"
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "image_offline"), project)
    config = (project / "cog.yaml").read_text()
    for old, new in changes.items():
        assert old in config
        config = config.replace(old, new)
    (project / "cog.yaml").write_text(config)
    return project


def test_a_build_on_a_pinion_base_needs_no_network(base_image, tmp_path):
    """Issue #14 item 11: on a base made by `pinion base build`, `pinion build` works with
    no network at all, from scratch (--no-cache): pinion's runtime compiles in the base's
    builder image, and system_packages and python_packages the base has (numpy pinned to
    its version there) are not fetched. The image then runs, offline too. The fixture's run step and predictor report the
    network interfaces they see: only lo, so no step had a network to use."""
    interfaces = subprocess.run(["unshare", "--net", "cat", "/proc/net/dev"], capture_output=True,
                                text=True, timeout=30)
    assert interfaces.returncode == 0, interfaces.stderr
    assert [line.split(":")[0].strip() for line in interfaces.stdout.splitlines()[2:]] == ["lo"]
    # numpy pinned to the version Debian installed in the base: pip needs no index for it.
    numpy = _podman("run", "--rm", "--network=none", base_image, "python3", "-c",
                    "import numpy; print(numpy.__version__)")
    assert numpy.returncode == 0, numpy.stderr
    project = _offline_project(tmp_path, **{"    - numpy\n": "    - numpy==%s\n" % numpy.stdout.strip()})
    built = _offline("build", "-t", OFFLINE, "--base-image", base_image, "--no-cache",
                     "--progress", "plain", cwd=project, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stderr[-4000:]
    assert "FROM %s AS pinion" % BUILDER in built.stderr
    # The steps that install what the base lacks name it first; they found nothing.
    assert [line for line in built.stderr.splitlines() if line.startswith("pinion: ")] == []
    result = _offline("predict", "--image", OFFLINE, "-i", "text=offline", cwd=tmp_path, timeout=120)
    # The build's run step and the running model saw only a loopback interface.
    assert (result.returncode, result.stdout) == (0, "offline: 5, built on lo, PIL 9, runs on lo\n"), \
        result.stderr
    _podman("rmi", "-f", OFFLINE)


def test_dockerfile_on_a_pinion_base_starts_from_its_builder(base_image):
    """`pinion build --dockerfile` prints what a build uses: stage 1 from the builder."""
    result = run_pinion("build", "--dockerfile", "--base-image", base_image,
                        cwd=os.path.join(EXAMPLES, "hello"), timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "FROM %s AS pinion" % BUILDER in lines
    assert "FROM %s" % base_image in lines


def test_an_offline_build_names_the_system_packages_the_base_lacks(base_image, tmp_path):
    """A system_package the base does not have needs a Debian mirror: with no network the
    build says which packages, and the `pinion base build` that makes a base with them."""
    project = _offline_project(tmp_path, **{"    - python3-pil\n": "    - python3-pil\n    - sl\n"})
    built = _offline("build", "-t", OFFLINE + "-sl", "--base-image", base_image, cwd=project,
                     timeout=BUILD_TIMEOUT)
    assert built.returncode == 1, built.stderr[-4000:]
    assert ("hint: apt-get could not reach a Debian mirror to install the model's system_packages "
            "that the base image %s lacks: sl. " % base_image) in built.stderr, built.stderr[-4000:]
    assert "  pinion base build --python 3.11 -t pinion-base:3.11 --package sl\n" in built.stderr


def test_an_offline_build_says_pip_needs_an_index(base_image, tmp_path):
    """python_packages the base does not have need PyPI: with no network the build fails
    at pip (after its few quick retries) and says which requirement, and what to do."""
    project = _offline_project(tmp_path, **{"    - numpy\n": "    - numpy\n    - pinion-no-such-package==1.0\n"})
    started = time.monotonic()
    built = _offline("build", "-t", OFFLINE + "-pip", "--base-image", base_image, cwd=project,
                     timeout=BUILD_TIMEOUT)
    assert built.returncode == 1, built.stderr[-4000:]
    assert "hint: pip could not reach a package index for pinion-no-such-package==1.0 (the model's " \
        "python_packages or python_requirements). A build without network uses only the Python " \
        "packages its base image has" in built.stderr, built.stderr[-4000:]
    assert time.monotonic() - started < 300


def test_an_offline_pull_of_the_base_points_to_pinion_base_build(tmp_path):
    """Issue #14 item 11, with the real engine: with no network, the base image cannot be
    pulled (a name no test stores, so the engine must try), and the build says that
    `pinion base build` makes one that needs no registry."""
    project = _offline_project(tmp_path)
    base = "docker.io/pinion-test/no-such-base:3.11"
    built = _offline("build", "-t", OFFLINE + "-pull", "--base-image", base, cwd=project, timeout=120)
    assert built.returncode == 1, built.stderr[-4000:]
    assert ("hint: the base image %s could not be pulled. Without a registry, make a Debian base "
            "from Debian's packages and build on it:\n"
            "  pinion base build --python 3.11 -t pinion-base:3.11\n"
            "  pinion build --base-image pinion-base:3.11\n"
            "(`pinion base build` needs a Debian mirror; builds on its base then need no network; "
            "docs/guide.md)\n" % base) in built.stderr, built.stderr[-4000:]


def test_inspect_missing_image_says_what_to_do():
    result = run_pinion("inspect", "localhost/pinion-no-such-image", timeout=60)
    assert result.returncode == 1
    assert "pinion build -t localhost/pinion-no-such-image" in result.stderr


@pytest.mark.skipif(os.environ.get("PINION_IMAGE_MATRIX") != "1",
                    reason="the Debian/Python matrix makes a base per release (about 90 s each); "
                           "run with PINION_IMAGE_MATRIX=1")
@pytest.mark.parametrize("python", ["3.9", "3.13"])
def test_runtime_works_on_other_debian_releases(python, tmp_path):
    """pinion's runtime stage compiles on each base: other glibc and Python versions."""
    base = f"localhost/pinion-test-base:{python}"
    labels = run_pinion("inspect", base, timeout=60)
    if labels.returncode != 0:
        made = run_pinion("base", "build", "--python", python, "-t", base, timeout=BUILD_TIMEOUT)
        assert made.returncode == 0, made.stderr[-3000:]
    project = tmp_path / "hello"
    shutil.copytree(os.path.join(EXAMPLES, "hello"), project)
    config = (project / "cog.yaml").read_text().replace('"3.11"', f'"{python}"')
    (project / "cog.yaml").write_text(config)
    tag = f"localhost/pinion-test-hello-{python}"
    _build("hello", tag, base, cwd=project)
    result = run_pinion("predict", "--image", tag, "-i", f"text={python}", cwd=tmp_path, timeout=120)
    assert (result.returncode, result.stdout) == (0, f"hello there, {python}\n"), result.stderr


def test_hub_publishes_and_runs_an_image_version(hello_image, tmp_path):
    """`pinion push --hub URL OWNER/NAME --image TAG` publishes a built image; its
    predictions run on an instance started from the image (`pinion serve --image`)."""
    from hub_harness import Hub

    hub = Hub(tmp_path / "data").start()
    try:
        result = run_pinion("push", "--hub", hub.url, "--token", hub.token("alice"), "alice/imaged",
                            "--image", HELLO, timeout=120)
        assert result.returncode == 0, result.stderr
        version = result.stdout.strip()
        assert len(version) == 64
        stored = hub.get("/v1/models/alice/imaged/versions/" + version).json()
        assert stored["openapi_schema"] == json.loads(run_pinion("schema", cwd=EXAMPLES + "/hello").stdout)
        response = hub.post("/v1/predictions", json={"version": version, "input": {"name": "image"}},
                            headers={"Prefer": "wait=60"})
        prediction = response.json()
        deadline = time.monotonic() + 120
        while prediction["status"] not in ("succeeded", "failed", "canceled"):
            assert time.monotonic() < deadline, prediction
            time.sleep(0.5)
            prediction = hub.get("/v1/predictions/" + prediction["id"]).json()
        assert prediction["status"] == "succeeded", prediction
        assert "".join(prediction["output"]) == "hello there, image"
    finally:
        hub.stop()


def _wait_terminal(hub, prediction, seconds):
    deadline = time.monotonic() + seconds
    while prediction["status"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, prediction
        time.sleep(0.5)
        prediction = hub.get("/v1/predictions/" + prediction["id"]).json()
    return prediction


def test_image_versions_run_on_the_engines_bridge_not_the_hosts_network(base_image, tmp_path):
    """An image version's container is on a bridge network of its own (the hub's first
    container network, pinion-10-89-192, when it is the only one running): it reaches the
    host through that network's gateway (a service listening on every address), but nothing that
    listens only on the host's loopback, the hub's API included, which it could with the
    host's network. It still downloads its input and uploads its output through
    the hub's internal listener, whose socket on the bridge takes only an instance's
    credential."""
    from hub_harness import Hub, problem

    _build(None, NETWORK, base_image, cwd=os.path.join(ROOT, "tests", "fixtures", "image_network"))
    loopback, everywhere = socket.socket(), socket.socket()
    hub = Hub(tmp_path / "data").start()
    try:
        loopback.bind(("127.0.0.1", 0))
        everywhere.bind(("0.0.0.0", 0))
        for listener in (loopback, everywhere):
            listener.listen(8)
        # The hub asks the engine for the bridge's gateway while it serves, then listens
        # there too, on the internal listener's port.
        deadline = time.monotonic() + 30
        while not hub.container_internal_url:
            assert time.monotonic() < deadline, hub.read_log()
            time.sleep(0.1)
            hub.container_internal_url = hub.find_container_internal_url()
        gateway, internal_port = hub.container_internal_url[len("http://"):].rsplit(":", 1)
        assert internal_port == hub.internal_url.rsplit(":", 1)[1]
        # The container's own network's gateway, where the hub listens for it too.
        assert ("internal routes for containers on their own networks' gateways, 10.89.192.1 "
                "to 10.89.255.1, port %s" % internal_port) in hub.read_log()
        # The bridge's socket of the internal listener: a made-up credential gets 401,
        # and the API is not there at all. The engine makes the bridge's interface (its
        # gateway address) with the first container on it, so one runs first: this test
        # must not depend on an earlier one having done so on this machine.
        made = _podman("run", "--rm", "--network", "podman", NETWORK, "true")
        assert made.returncode == 0, made.stderr
        problem(requests.put(hub.container_internal_url + "/internal/uploads/%s/x.txt" % ("0" * 64),
                             data=b"x", timeout=10), 401)
        problem(requests.get(hub.container_internal_url + "/v1/models", timeout=10), 404)

        result = run_pinion("push", "--hub", hub.url, "--token", hub.token("alice"), "alice/network",
                            "--image", NETWORK, timeout=120)
        assert result.returncode == 0, result.stderr
        note = hub.post("/v1/files", files={"content": ("note.txt", b"note from the host")}).json()
        own_gateway = "10.89.192.1"
        refused = ["127.0.0.1:%d" % loopback.getsockname()[1],  # its own loopback, not the host's
                   "%s:%d" % (own_gateway, loopback.getsockname()[1]),
                   "%s:%d" % (own_gateway, hub.port)]  # the API, on the host's loopback
        reached = "%s:%d" % (own_gateway, everywhere.getsockname()[1])
        prediction = hub.post("/v1/predictions", json={
            "version": result.stdout.strip(),
            "input": {"note": note["urls"]["get"], "targets": ",".join(refused + [reached])}},
            headers={"Prefer": "wait=60"}).json()
        prediction = _wait_terminal(hub, prediction, 180)
        assert prediction["status"] == "succeeded", (prediction, hub.read_log()[-3000:])
        assert prediction["output"].startswith(hub.url + "/v1/outputs/")
        lines = hub.get(prediction["output"]).text.splitlines()
        assert lines == ["note from the host"] + \
            ["%s failed: [Errno 111] Connection refused" % target for target in refused] + \
            [reached + " connected"]
    finally:
        hub.stop()
        loopback.close()
        everywhere.close()


def test_one_image_instance_cannot_reach_another(base_image, tmp_path):
    """Two image versions' instances run on two networks of the hub's (pinion-10-89-192
    and -193, podman's `isolate`): the second cannot connect to the first's Cog server,
    which the host reaches at the same address (the control)."""
    from hub_harness import Hub

    # Two images (one version each: a version of an image is its digest).
    _build(None, NETWORK, base_image, cwd=os.path.join(ROOT, "tests", "fixtures", "image_network"))
    second = tmp_path / "image_network"
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "image_network"), second)
    with open(second / "predict.py", "a") as file:
        file.write("# the second image\n")
    _build(None, NETWORK + "-second", base_image, cwd=str(second))
    hub = Hub(tmp_path / "data", args=["--idle-timeout", "300"]).start()
    try:
        versions = []
        for name, image in (("alice/first", NETWORK), ("alice/second", NETWORK + "-second")):
            result = run_pinion("push", "--hub", hub.url, "--token", hub.token("alice"), name,
                                "--image", image, timeout=120)
            assert result.returncode == 0, result.stderr
            versions.append(result.stdout.strip())
        note = hub.post("/v1/files", files={"content": ("note.txt", b"note")}).json()

        def probe(version, targets):
            prediction = hub.post("/v1/predictions", json={
                "version": version, "input": {"note": note["urls"]["get"], "targets": targets}},
                headers={"Prefer": "wait=60"}).json()
            prediction = _wait_terminal(hub, prediction, 180)
            assert prediction["status"] == "succeeded", (prediction, hub.read_log()[-3000:])
            return hub.get(prediction["output"]).text.splitlines()[1:]

        def containers_on(network):
            """Running containers on `network` (asked at most 5 times: podman's filter by
            network trips over containers' namespaces in gVisor, so this lists them all)."""
            for _ in range(5):
                listed = _podman("ps", "--format", "{{.ID}} {{.Networks}}")
                found = [line.split()[0] for line in listed.stdout.splitlines()
                         if network in line.split()[1:]]
                if found:
                    return found
                time.sleep(1)
            return []

        probe(versions[0], "127.0.0.1:1")  # the first instance is up, and stays (idle)
        containers = containers_on("pinion-10-89-192")
        assert len(containers) == 1, containers
        inspected = _podman("inspect", "--format", "{{json .NetworkSettings.Networks}}",
                            containers[0])
        networks = json.loads(inspected.stdout or "{}")
        assert list(networks) == ["pinion-10-89-192"], (inspected.stdout, inspected.stderr)
        address = networks["pinion-10-89-192"]["IPAddress"]
        environment = _podman("inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}",
                              containers[0]).stdout.split()
        port = [item.split("=", 1)[1] for item in environment if item.startswith("PORT=")][0]
        target = "%s:%s" % (address, port)
        assert address.startswith("10.89.192."), address
        socket.create_connection((address, int(port)), timeout=5).close()  # the control
        lines = probe(versions[1], target)
        assert versions[0] != versions[1]
        assert len(lines) == 1 and lines[0].startswith(target + " failed: "), (
            lines, _podman("ps", "--format", "{{.ID}} {{.Networks}} {{.Image}}").stdout)
        # The second instance is on the next network.
        assert len(containers_on("pinion-10-89-193")) == 1
    finally:
        hub.stop()
