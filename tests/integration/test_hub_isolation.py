"""Pushed models run isolated from the hub (docs/security.md): a hostile folder model
(tests/fixtures/hostile_model) reaches for the hub's secret, database, bundles,
environment, process, its own bundle and another model's scratch folder, and every
attempt fails under the default bubblewrap isolation, while with `--isolation none`
(the control) they succeed. Also: the data folder is private, scratch folders go with
their instance and after a crash, a deleted version's bundle goes, and without
bubblewrap predictions fail saying how to fix it."""
import json
import os
import shutil
import signal
import stat
import subprocess
import time
import uuid

import pytest

from hub_harness import ROOT, Hub

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "hostile_model")
TIMEOUT = 60


def hostile_copy(tmp_path, name):
    """A copy of the hostile model whose bytes (and so version id) are its own."""
    folder = tmp_path / name
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns(".cog", "__pycache__"))
    with open(folder / "predict.py", "a") as file:
        file.write("# %s\n" % name)
    return str(folder)


def wait_done(hub, prediction_id, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction = hub.get("/v1/predictions/" + prediction_id).json()
        if prediction["status"] in ("succeeded", "failed", "canceled"):
            return prediction
        time.sleep(0.05)
    raise AssertionError("the prediction did not finish within %s s" % timeout)


def run(hub, version, **inputs):
    response = hub.post("/v1/predictions", json={"version": version, "input": inputs})
    assert response.status_code == 201, response.text
    return wait_done(hub, response.json()["id"])


def wait_for(condition, what, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def instance_folders(data):
    """The instances' scratch folders, as OWNER/TOKEN: each hub process keeps its own in
    DATA/instances/OWNER/ (locked by OWNER.lock beside it), so that replicas can share a
    data folder. A folder without a lock (an older pinion's, or made by a test) counts
    as a scratch folder itself."""
    folder = os.path.join(data, "instances")
    found = []
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if not os.path.isdir(path):
            continue
        if os.path.exists(path + ".lock"):
            found += [name + "/" + token for token in os.listdir(path)
                      if os.path.isdir(os.path.join(path, token))]
        else:
            found.append(name)
    return sorted(found)


ATTEMPTS = ["read_secret", "read_database", "list_bundles", "walk_up_to_the_database",
            "read_through_proc_root", "hub_environment_canary", "pid_1_environment_canary",
            "host_paths_in_pid_1_command_line", "own_environment_canary", "signal_the_hub",
            "write_into_own_bundle", "read_a_peer_marker", "allocate_2_gib", "uid_0",
            "capabilities"]


def attack(tmp_path, args):
    """Runs the writer and the attacker (two models, so two instances) on a hub started
    with `args`; returns what the attacker managed and the hub's data folder."""
    data = str(tmp_path / "data")
    canary = "canary-" + uuid.uuid4().hex
    nonce = uuid.uuid4().hex
    hub = Hub(data, args=args, extra_env={"PINION_TEST_CANARY": canary,
                                          "PINION_SANDBOX_MEMORY_MB": "1024"}).start()
    try:
        writer = hub.push(None, "alice/writer", cwd=hostile_copy(tmp_path, "writer"))
        attacker = hub.push(None, "alice/attacker", cwd=hostile_copy(tmp_path, "attacker"))
        written = run(hub, writer, action="write", nonce=nonce)
        assert written["status"] == "succeeded", written["error"]
        attacked = run(hub, attacker, action="attack", data=os.path.abspath(data),
                       hub_pid=hub.process.pid, canary=canary, nonce=nonce)
        assert attacked["status"] == "succeeded", attacked["error"]
        output = attacked["output"]
        return json.loads(output if isinstance(output, str) else "".join(output)), data
    finally:
        hub.stop()


def test_a_hostile_model_reaches_nothing_of_the_hub_or_its_peers(tmp_path):
    results, data = attack(tmp_path, [])
    assert sorted(results) == sorted(ATTEMPTS)
    assert {name for name, succeeded in results.items() if succeeded} == set()
    for bundle in os.listdir(os.path.join(data, "bundles")):
        assert not os.path.exists(os.path.join(data, "bundles", bundle, "written-by-the-model"))


def test_without_isolation_the_same_model_reaches_everything(tmp_path):
    """The control: the attempts are real, so the test above fails against a hub that
    runs models as itself."""
    results, data = attack(tmp_path, ["--isolation", "none"])
    expected = {"read_secret", "read_database", "list_bundles", "walk_up_to_the_database",
                "read_through_proc_root", "hub_environment_canary", "own_environment_canary",
                "signal_the_hub", "write_into_own_bundle", "read_a_peer_marker",
                "allocate_2_gib"}
    if os.getuid() == 0:
        expected |= {"uid_0", "capabilities"}
    assert expected <= {name for name, succeeded in results.items() if succeeded}
    log = open(data + ".log").read()
    assert "--isolation none" in log and "trust everyone who can push" in log


def test_the_data_folder_is_private(tmp_path):
    data = str(tmp_path / "data")
    hub = Hub(data).start()
    try:
        version = hub.push(None, "alice/private", cwd=hostile_copy(tmp_path, "private"))
        assert run(hub, version, action="write", nonce="n")["status"] == "succeeded"
        hub.post("/v1/files", files={"content": ("a.txt", b"text", "text/plain")})
        checked = 0
        for folder, folders, files in os.walk(data):
            for name in folders + files:
                path = os.path.join(folder, name)
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                assert mode & 0o077 == 0, "%s is %o" % (path, mode)
                checked += 1
        assert checked > 10
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
        for name in ("secret", "hub.db", "hub.db-wal", "hub.db-shm"):
            assert stat.S_IMODE(os.stat(os.path.join(data, name)).st_mode) == 0o600, name
        for name in ("blobs", "bundles", "instances", "tmp"):
            assert stat.S_IMODE(os.stat(os.path.join(data, name)).st_mode) == 0o700, name
    finally:
        hub.stop()


def test_a_data_folder_made_wider_is_narrowed_at_start(tmp_path):
    data = tmp_path / "data"
    os.makedirs(data / "bundles")
    os.chmod(data, 0o755)
    os.chmod(data / "bundles", 0o777)
    hub = Hub(str(data)).start()
    hub.stop()
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(data / "bundles").st_mode) == 0o700


def test_scratch_folders_go_with_their_instance(tmp_path):
    data = str(tmp_path / "data")
    hub = Hub(data, args=["--idle-timeout", "0.5"]).start()
    try:
        version = hub.push(None, "alice/scratch", cwd=hostile_copy(tmp_path, "scratch"))
        assert run(hub, version, action="write", nonce="n")["status"] == "succeeded"
        wait_for(lambda: instance_folders(data) == [], "the idle instance's scratch stayed: %s"
                 % instance_folders(data))
    finally:
        hub.stop()


def test_scratch_left_by_a_killed_hub_is_swept_at_start(tmp_path):
    data = str(tmp_path / "data")
    hub = Hub(data).start()
    version = hub.push(None, "alice/crash", cwd=hostile_copy(tmp_path, "crash"))
    assert run(hub, version, action="write", nonce="n")["status"] == "succeeded"
    left = instance_folders(data)
    assert len(left) == 1
    assert os.listdir(os.path.join(data, "instances", left[0], "tmp")) == \
        ["pinion-isolation-marker-n"]
    hub.process.send_signal(signal.SIGKILL)
    hub.process.wait(timeout=10)
    hub.log.close()
    assert instance_folders(data) == left
    hub.start()
    try:
        assert instance_folders(data) == []
    finally:
        hub.stop()


def test_a_sandbox_left_without_its_hub_is_killed_at_start(tmp_path):
    """bubblewrap's init can outlive a hub killed while it was setting the sandbox up
    (before --die-with-parent took hold); the next start kills what runs over the old
    scratch folders."""
    data = tmp_path / "data"
    scratch = data / "instances" / uuid.uuid4().hex  # a name of its own: the kill is host-wide
    os.makedirs(scratch / "tmp")
    stray = subprocess.Popen(
        ["bwrap", "--unshare-user", "--unshare-pid", "--ro-bind", "/usr", "/usr",
         "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink",
         "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--bind", str(scratch),
         "/run/pinion", "--", "/bin/sleep", "300"], start_new_session=True)
    try:
        # Both of its processes (bubblewrap's init and sleep, which init forks once the
        # mounts are up) before the hub looks: it counts what it kills.
        wait_for(lambda: sandboxed_commands(stray.pid) == ["bwrap", "sleep"],
                 "the stray sandbox did not start")
        hub = Hub(str(data)).start()
        try:
            stray.wait(timeout=10)  # its sandbox was killed, so bubblewrap ended
            assert "killed 2 processes of sandboxes that a previous run left behind" in \
                hub.read_log()
            assert instance_folders(str(data)) == []
        finally:
            hub.stop()
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


def sandboxed_commands(pid):
    """The names of the descendants of `pid` that have /run/pinion mounted, sorted."""
    names = []
    for child in descendants(pid):
        try:
            mounted = any(line.split()[4] == "/run/pinion"
                          for line in open("/proc/%d/mountinfo" % child))
            name = open("/proc/%d/comm" % child).read().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if mounted:
            names.append(name)
    return sorted(names)


def descendants(pid):
    found, pending = [], [pid]
    while pending:
        parent = pending.pop()
        try:
            children = open("/proc/%d/task/%d/children" % (parent, parent)).read().split()
        except FileNotFoundError:
            continue
        found += [int(child) for child in children]
        pending += [int(child) for child in children]
    return found


def test_deleting_a_version_deletes_its_bundle(tmp_path):
    data = str(tmp_path / "data")
    hub = Hub(data).start()
    try:
        folder = hostile_copy(tmp_path, "deleted")
        version = hub.push(None, "alice/deleted", cwd=folder)
        shared = hub.push(None, "alice/shared", cwd=folder)  # the same bytes: one bundle
        assert shared == version
        bundle = os.path.join(data, "bundles", version)
        assert os.path.isdir(bundle)
        response = hub.request("DELETE", "/v1/models/alice/deleted/versions/" + version)
        assert response.status_code == 204, response.text
        assert os.path.isdir(bundle)  # alice/shared still has it
        response = hub.request("DELETE", "/v1/models/alice/shared/versions/" + version)
        assert response.status_code == 204, response.text
        assert not os.path.exists(bundle)
    finally:
        hub.stop()


def test_without_bubblewrap_predictions_fail_saying_how_to_fix_it(tmp_path):
    data = str(tmp_path / "data")
    hub = Hub(data, extra_env={"PINION_BWRAP": "/nonexistent/bwrap"}).start()
    try:
        version = hub.push(None, "alice/nobwrap", cwd=hostile_copy(tmp_path, "nobwrap"))
        prediction = run(hub, version, action="write", nonce="n")
        assert prediction["status"] == "failed"
        error = prediction["error"]
        assert "bubblewrap (\"/nonexistent/bwrap\") was not found" in error
        assert "apt-get install bubblewrap" in error
        assert "--isolation none ONLY if you trust everyone who can push" in error
        assert "folder versions cannot run on this hub" in hub.read_log()
        assert instance_folders(data) == []
    finally:
        hub.stop()


def test_isolation_takes_only_its_three_modes(tmp_path):
    from hub_harness import pinion
    result = pinion("hub", "--data", str(tmp_path / "data"), "--isolation", "chroot")
    assert result.returncode == 2
    assert "--isolation takes bubblewrap, container or none, got \"chroot\"" in result.stderr
    help_text = pinion("hub", "--help").stdout
    assert "--isolation MODE" in help_text and "PINION_SANDBOX_MEMORY_MB" in help_text


def test_container_isolation_refuses_folder_versions(tmp_path):
    hub = Hub(str(tmp_path / "data"), args=["--isolation", "container"]).start()
    try:
        version = hub.push(None, "alice/folder", cwd=hostile_copy(tmp_path, "folder"))
        prediction = run(hub, version, action="write", nonce="n")
        assert prediction["status"] == "failed"
        assert "this hub runs only image versions (--isolation container)" in \
            prediction["error"]
    finally:
        hub.stop()


FAKE_ENGINE = """#!/bin/sh
# A stand-in for podman: labels for `image inspect`, the bridge's gateways for `network
# inspect` (an IPv6 one, which the hub skips, and a documentation address: the hub may
# bind it, nothing answers there; after $PINION_TEST_BRIDGE_DELAY seconds); `network
# create` records its arguments (in .network-NAME) and says the network exists when it
# was made before; `run` records its arguments (also in .run-PID) and fails, after
# $PINION_TEST_RUN_SECONDS.
case "$1" in
  image) echo '{}' ;;
  network)
    if [ "$2" = create ]; then
      for last; do :; done
      made="$PINION_TEST_RUN_RECORD.network-$last"
      [ ! -e "$made" ] || { echo "Error: network name $last already used: network already exists" >&2; exit 125; }
      printf '%s\\n' "$@" > "$made"; exit 0
    fi
    [ -z "$PINION_TEST_NO_BRIDGE" ] || { echo 'Error: network not found' >&2; exit 125; }
    sleep "${PINION_TEST_BRIDGE_DELAY:-0}"; : > "$PINION_TEST_RUN_RECORD.answered"
    echo 'fd00::1 198.51.100.1 ' ;;
  run) printf '%s\\n' "$@" > "$PINION_TEST_RUN_RECORD"; printf '%s\\n' "$@" > "$PINION_TEST_RUN_RECORD.run-$$"
       sleep "${PINION_TEST_RUN_SECONDS:-0}"; exit 3 ;;
esac
"""


def image_run(tmp_path, args, extra_env=None):
    """Runs a prediction of an image version on a hub started with `args`, with a fake
    podman first on PATH; returns the failed prediction, the arguments the instance gave
    `podman run` (None when it never ran the engine) and the hub's log when the
    prediction was created."""
    engine_dir = tmp_path / "engine"
    engine_dir.mkdir()
    (engine_dir / "podman").write_text(FAKE_ENGINE)
    os.chmod(engine_dir / "podman", 0o755)
    record = tmp_path / "run-arguments"
    hub = Hub(str(tmp_path / "data"), args=args, extra_env={
        "PATH": "%s:%s" % (engine_dir, os.environ.get("PATH", "/usr/bin:/bin")),
        "PINION_ENGINE": "podman", "PINION_ENGINE_NESTED": "0",
        "XDG_CONFIG_HOME": str(tmp_path / "config"), "PINION_TEST_RUN_RECORD": str(record),
        "PINION_SANDBOX_MEMORY_MB": "1536", "PINION_SANDBOX_PROCESSES": "77",
        "PINION_TEST_CANARY": "canary", **(extra_env or {})}).start()
    try:
        folder = hub.push(None, "alice/folder", cwd=hostile_copy(tmp_path, "folder"))
        schema = hub.get("/v1/models/alice/folder/versions/" + folder).json()["openapi_schema"]
        response = hub.post("/v1/models/alice/imaged/versions",
                            json={"image": "localhost/imaged:1", "openapi_schema": schema})
        assert response.status_code == 201, response.text
        created = hub.post("/v1/predictions", json={"version": response.json()["id"], "input": {
            "action": "write", "nonce": "n"}})
        assert created.status_code == 201, created.text
        log = hub.read_log()
        prediction = wait_done(hub, created.json()["id"])
        assert prediction["status"] == "failed"
        return prediction, record.read_text().splitlines() if record.exists() else None, log
    finally:
        hub.stop()


def image_run_arguments(tmp_path, args):
    prediction, arguments, log = image_run(tmp_path, args)
    assert arguments, prediction
    isolated = "none" not in args
    assert ("internal routes for containers on 198.51.100.1:" in log) == isolated, log
    return arguments


def test_image_versions_run_without_privileges_and_with_limits(tmp_path):
    arguments = image_run_arguments(tmp_path, [])
    assert arguments[0] == "run"
    for expected in ("--cap-drop=all", "--security-opt=no-new-privileges", "--memory=1536m",
                     "--pids-limit=77"):
        assert expected in arguments, arguments
    assert arguments.index("--memory=1536m") < arguments.index("localhost/imaged:1")
    # A network of its own (no other instance's container is on it), not the host's
    # network; the port only on the host's loopback.
    assert "--network=pinion-10-89-192" in arguments, arguments
    made = (tmp_path / "run-arguments.network-pinion-10-89-192").read_text().splitlines()
    assert made == ["network", "create", "--subnet=10.89.192.0/24", "--gateway=10.89.192.1",
                    "--opt=isolate=true", "pinion-10-89-192"]
    port = [a for a in arguments if a.startswith("--env=PORT=")][0].split("=")[2]
    assert "--publish=127.0.0.1:%s:%s" % (port, port) in arguments, arguments
    # Nothing of the host's: no folder, no variable but PORT.
    assert not [a for a in arguments if a.startswith(("-v", "--volume", "--mount", "--env-host"))]
    assert [a for a in arguments if a.startswith(("-e", "--env"))] == \
        [a for a in arguments if a.startswith("--env=PORT=")]
    assert not [a for a in arguments if "canary" in a]


def test_image_versions_without_isolation_run_as_before(tmp_path):
    arguments = image_run_arguments(tmp_path, ["--isolation", "none"])
    assert arguments[0] == "run" and "localhost/imaged:1" in arguments
    assert not [a for a in arguments
                if a.startswith(("--cap-drop", "--memory", "--pids-limit", "--network"))]


def test_image_versions_wait_for_the_engines_bridge(tmp_path):
    """The hub asks the engine for its bridge's gateway while it serves: a prediction of
    an image version made before the answer waits for it, then runs on the bridge."""
    prediction, arguments, log = image_run(tmp_path, [], {"PINION_TEST_BRIDGE_DELAY": "4"})
    assert "internal routes for containers on 198.51.100.1" not in log, log
    assert arguments and "--network=pinion-10-89-192" in arguments, prediction
    answered = os.stat(tmp_path / "run-arguments.answered").st_mtime_ns
    assert os.stat(tmp_path / "run-arguments").st_mtime_ns >= answered


def test_each_image_instance_has_a_network_of_its_own(tmp_path):
    """Two image versions' instances at once run on two networks (isolated from each
    other by the engine), the hub listening on each network's gateway; a network is
    used again, not made again, once its instance is gone."""
    engine_dir = tmp_path / "engine"
    engine_dir.mkdir()
    (engine_dir / "podman").write_text(FAKE_ENGINE)
    os.chmod(engine_dir / "podman", 0o755)
    record = tmp_path / "run-arguments"
    hub = Hub(str(tmp_path / "data"), extra_env={
        "PATH": "%s:%s" % (engine_dir, os.environ.get("PATH", "/usr/bin:/bin")),
        "PINION_ENGINE": "podman", "PINION_ENGINE_NESTED": "0",
        "XDG_CONFIG_HOME": str(tmp_path / "config"), "PINION_TEST_RUN_RECORD": str(record),
        "PINION_TEST_RUN_SECONDS": "3"}).start()
    try:
        log = hub.read_log()
        assert ("internal routes for containers on their own networks' gateways, 10.89.192.1 "
                "to 10.89.255.1, port %s" % hub.internal_url.rsplit(":", 1)[1]) in log, log
        folder = hub.push(None, "alice/folder", cwd=hostile_copy(tmp_path, "folder"))
        schema = hub.get("/v1/models/alice/folder/versions/" + folder).json()["openapi_schema"]
        versions = []
        for name in ("one", "two"):
            response = hub.post("/v1/models/alice/%s/versions" % name,
                                json={"image": "localhost/%s:1" % name, "openapi_schema": schema})
            assert response.status_code == 201, response.text
            versions.append(response.json()["id"])

        def predict_each():
            created = [hub.post("/v1/predictions", json={"version": version, "input": {
                "action": "write", "nonce": "n"}}) for version in versions]
            for response in created:
                assert response.status_code == 201, response.text
                assert wait_done(hub, response.json()["id"])["status"] == "failed"

        def networks_of_runs():
            runs = {}
            for path in tmp_path.glob("run-arguments.run-*"):
                lines = path.read_text().splitlines()
                image = [line for line in lines if line.startswith("localhost/")][0]
                runs[image] = [line for line in lines if line.startswith("--network=")]
                path.unlink()
            return runs

        predict_each()
        assert sorted(networks_of_runs().values()) == [["--network=pinion-10-89-192"],
                                                       ["--network=pinion-10-89-193"]]
        assert sorted(p.name for p in tmp_path.glob("run-arguments.network-*")) == [
            "run-arguments.network-pinion-10-89-192", "run-arguments.network-pinion-10-89-193"]
        # Both instances are gone: their networks are free again, and already made.
        wait_for(lambda: not instance_folders(hub.data), "the instances were not freed")
        predict_each()
        assert sorted(networks_of_runs().values()) == [["--network=pinion-10-89-192"],
                                                       ["--network=pinion-10-89-193"]]
    finally:
        hub.stop()


def test_without_the_engines_bridge_image_versions_fail_saying_why(tmp_path):
    prediction, arguments, log = image_run(tmp_path, [], {"PINION_TEST_NO_BRIDGE": "1"})
    assert prediction["error"].startswith(
        "could not start an instance of the model: image versions cannot run on this hub: "
        "`podman network inspect podman` named no IPv4 gateway"), prediction
    assert "Error: network not found" in prediction["error"]
    assert "make sure `podman run --network=bridge` works on this host" in prediction["error"]
    assert arguments is None


def test_every_example_runs_sandboxed(tmp_path):
    """The sandbox binds what real models need: Debian's Python and its numpy, sklearn
    and PIL, tesseract, espeak-ng, and a writable /tmp for file outputs."""
    import base64
    with open(os.path.join(ROOT, "examples", "digits", "sample.png"), "rb") as file:
        digit = "data:image/png;base64," + base64.b64encode(file.read()).decode()
    with open(os.path.join(ROOT, "examples", "ocr", "sample.png"), "rb") as file:
        text_image = "data:image/png;base64," + base64.b64encode(file.read()).decode()
    hub = Hub(str(tmp_path / "data")).start()
    try:
        outputs = {}
        for example, inputs in (("hello", {"text": "sandbox"}),
                                ("stream", {"prompt": "a b c", "delay": 0}),
                                ("digits", {"image": digit}), ("ocr", {"image": text_image}),
                                ("tts", {"text": "hello"})):
            version = hub.push(example, "alice/" + example)
            prediction = run(hub, version, **inputs)
            assert prediction["status"] == "succeeded", (example, prediction["error"],
                                                         prediction["logs"])
            outputs[example] = prediction["output"]
        assert "".join(outputs["hello"]) == "hello there, sandbox"
        assert "".join(outputs["stream"]).split() == ["a", "b", "c"]
        assert outputs["digits"]["label"] == 8
        assert outputs["ocr"].strip() == "Hello from pinion"
        wave = hub.get(outputs["tts"]).content
        assert wave[:4] == b"RIFF" and wave[8:12] == b"WAVE"
    finally:
        hub.stop()
