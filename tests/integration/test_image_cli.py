"""Image commands that need no engine: `pinion build --dockerfile`, the messages when
no engine is usable, and flag checks."""
import os
import signal
import subprocess
import time

from conftest import EXAMPLES, PINION, run_pinion


def test_dockerfile_for_hello():
    result = run_pinion("build", "--dockerfile", cwd=os.path.join(EXAMPLES, "hello"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "FROM python:3.11-slim AS pinion" in lines
    assert lines[-1] == "COPY . /src"
    assert 'CMD ["python3", "-m", "cog.server.http"]' in lines
    assert "EXPOSE 5000" in lines


def test_dockerfile_with_base_image():
    result = run_pinion("build", "--dockerfile", "--base-image", "localhost/base:1",
                        cwd=os.path.join(EXAMPLES, "digits"))
    assert result.returncode == 0, result.stderr
    assert "FROM localhost/base:1\n" in result.stdout
    assert "-r /tmp/requirements.txt" in result.stdout


def test_no_engine_is_a_clear_error(tmp_path):
    result = run_pinion("build", cwd=os.path.join(EXAMPLES, "hello"), env={"PATH": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.startswith("error: no container engine is usable: docker is not installed")
    assert "install podman (apt-get install podman runc)" in result.stderr


def test_unknown_engine():
    result = run_pinion("build", "--engine", "rkt", cwd=os.path.join(EXAMPLES, "hello"))
    assert result.returncode == 1
    assert "unknown engine \"rkt\": use docker, podman or buildah" in result.stderr


def test_base_build_needs_python_and_tag():
    result = run_pinion("base", "build", "--python", "3.11")
    assert result.returncode == 2
    assert "--python and -t are required" in result.stderr


def test_base_build_refuses_a_python_debian_lacks():
    result = run_pinion("base", "build", "--python", "3.10", "-t", "x")
    assert result.returncode == 1
    assert "Debian has no release with Python 3.10" in result.stderr


def test_run_dash_dash_is_exec_as_in_cog_0_9():
    """`pinion run -- CMD` is Cog 0.9's `cog run CMD` (pinion exec); plain `run` predicts."""
    result = run_pinion("run", "--", cwd=EXAMPLES + "/hello")
    assert result.returncode == 2
    assert result.stderr == "pinion exec: give the command to run, e.g. pinion exec python --version\n"
    result = run_pinion("run", "-i", "name=still predict", cwd=EXAMPLES + "/hello")
    assert (result.returncode, result.stdout) == (0, "hello there, still predict\n"), result.stderr


def test_a_base_image_that_cannot_be_pulled_points_to_pinion_base_build(tmp_path):
    """Issue #14 item 11: without a registry, the build says that `pinion base build`
    makes a base, on which builds need no network."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(
        "#!/bin/sh\n"
        "[ \"$1\" = build ] || exit 0\n"
        "echo 'STEP 1/9: FROM python:3.11-slim AS pinion'\n"
        "echo 'Error: creating build container: initializing source "
        "docker://python:3.11-slim: pinging container registry registry-1.docker.io: "
        "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: "
        "Temporary failure in name resolution' >&2\n"
        "exit 125\n")
    (bin_dir / "podman").chmod(0o755)
    env = {"PATH": "%s:%s" % (bin_dir, os.environ["PATH"]), "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = run_pinion("build", "--engine", "podman", "-t", "x", cwd=os.path.join(EXAMPLES, "hello"),
                        env=env)
    assert result.returncode == 1
    assert "error: the image build failed (podman exited with 125)" in result.stderr
    assert ("hint: the base image python:3.11-slim could not be pulled. Without a registry, "
            "make a Debian base from Debian's packages and build on it:\n"
            "  pinion base build --python 3.11 -t pinion-base:3.11\n"
            "  pinion build --base-image pinion-base:3.11\n"
            "(`pinion base build` needs a Debian mirror; builds on its base then need no network; "
            "docs/guide.md)\n") in result.stderr
    assert "apt-get could not reach a Debian mirror" not in result.stderr


LAYER = {n: (str(n) * 64) for n in (1, 2, 3)}


def fake_engine(tmp_path, name, push_lines, push_exit=0):
    """An engine on PATH that says the image has 3 layers of 50 MiB, logs its calls to
    calls.log, and answers `push` with `push_lines`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = ["#!/bin/sh", 'echo "$@" >> %s' % (tmp_path / "calls.log"),
              'if [ "$1 $2" = "image inspect" ]; then echo "3 52428800"; exit 0; fi',
              '[ "$1" = push ] || exit 0']
    script += ["echo '%s'" % line for line in push_lines]
    script.append("exit %d" % push_exit)
    (bin_dir / name).write_text("\n".join(script) + "\n")
    (bin_dir / name).chmod(0o755)
    return {"PATH": "%s:%s" % (bin_dir, os.environ["PATH"]), "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "config")}


PODMAN_PUSH = ["Getting image source signatures", "Copying blob sha256:" + LAYER[1],
               "Copying blob %s skipped: already exists" % LAYER[2][:12],
               "Copying blob sha256:" + LAYER[3], "Copying config sha256:" + "4" * 64,
               "Writing manifest to image destination"]


def test_registry_push_shows_a_line_per_layer_when_not_on_a_terminal(tmp_path):
    """Issue #14 item 4: `pinion push` to a registry shows its layers as they go; off a
    terminal (here, pipes) as plain lines, one per layer, then the result."""
    env = fake_engine(tmp_path, "podman", PODMAN_PUSH)
    result = run_pinion("push", "--engine", "podman", "--no-build", "localhost:5000/acme/x:1",
                        env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "Pushing localhost:5000/acme/x:1 with podman\n"
        "  layer 1/3 111111111111: pushing\n"
        "  layer 2/3 222222222222: already in the registry\n"
        "  layer 3/3 333333333333: pushing\n"
        "Pushed localhost:5000/acme/x:1 (3 layers, 1 already in the registry)\n")
    assert "\r" not in result.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert "push --tls-verify=false localhost:5000/acme/x:1" in calls


def test_registry_push_reads_dockers_lines_too(tmp_path):
    env = fake_engine(tmp_path, "docker", [
        "The push refers to repository [localhost:5000/acme/x]",
        LAYER[1][:12] + ": Preparing", LAYER[2][:12] + ": Preparing",
        LAYER[3][:12] + ": Preparing", LAYER[2][:12] + ": Layer already exists",
        LAYER[1][:12] + ": Pushed", LAYER[3][:12] + ": Mounted from acme/y",
        "1: digest: sha256:" + "5" * 64 + " size: 1234"])
    result = run_pinion("push", "--engine", "docker", "--no-build", "localhost:5000/acme/x:1",
                        env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith(
        "  layer 1/3 222222222222: already in the registry\n"
        "  layer 2/3 111111111111: pushing\n"
        "  layer 3/3 333333333333: already in the registry\n"
        "Pushed localhost:5000/acme/x:1 (3 layers, 2 already in the registry)\n"), result.stderr


def test_registry_push_quiet_and_failed(tmp_path):
    """--quiet leaves only the result; a failed push shows the engine's last lines."""
    env = fake_engine(tmp_path, "podman", PODMAN_PUSH)
    result = run_pinion("push", "-q", "--engine", "podman", "--no-build", "localhost:5000/acme/x:1",
                        env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "Pushed localhost:5000/acme/x:1 (3 layers, 1 already in the registry)\n"
    failing = tmp_path / "failing"
    failing.mkdir()
    env = fake_engine(failing, "podman", PODMAN_PUSH[:2] + [
        "Error: writing blob: unauthorized: authentication required"], push_exit=125)
    result = run_pinion("push", "--engine", "podman", "--no-build", "registry.example/acme/x:1",
                        env=env)
    assert result.returncode == 1
    assert result.stderr == (
        "Pushing registry.example/acme/x:1 with podman\n"
        "  layer 1/3 111111111111: pushing\n"
        "  Getting image source signatures\n"
        "  Copying blob sha256:%s\n"
        "  Error: writing blob: unauthorized: authentication required\n"
        "error: podman push registry.example/acme/x:1 failed (exit 125); log in with "
        "`podman login REGISTRY` when the registry wants credentials\n" % LAYER[1])


def system_packages_step(tmp_path, packages):
    """The Dockerfile's system_packages RUN step for a model with `packages`, made safe
    to run here: its `rm` of apt's lists becomes `true`."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\n  system_packages:\n' +
        "".join("    - %s\n" % package for package in packages) + 'run: "predict.py:Predictor"\n')
    (folder / "predict.py").write_text("")
    result = run_pinion("build", "--dockerfile", cwd=str(folder))
    assert result.returncode == 0, result.stderr
    [step] = [line for line in result.stdout.splitlines()
              if line.startswith("RUN ") and "system_packages not in the base image" in line]
    assert "rm -rf /var/lib/apt/lists/*" in step
    return step[len("RUN "):].replace("rm -rf /var/lib/apt/lists/*", "true")


def run_step_on_a_base(tmp_path, step, installed):
    """Runs `step` with /bin/sh where dpkg-query knows `installed` ({name: version}) and
    apt-get only logs its arguments; returns apt-get's calls and what the step printed."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    table = "".join('  %s) echo "installed %s" ;;\n' % (name, version)
                    for name, version in installed.items())
    # dpkg-query -W -f=FORMAT NAME
    (stubs / "dpkg-query").write_text('#!/bin/sh\ncase "$3" in\n%s  *) exit 1 ;;\nesac\n' % table)
    (stubs / "apt-get").write_text('#!/bin/sh\necho "$@" >> %s\n' % (tmp_path / "apt.log"))
    for stub in ("dpkg-query", "apt-get"):
        (stubs / stub).chmod(0o755)
    done = subprocess.run(["/bin/sh", "-c", step], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=30,
                          env={"PATH": "%s:/usr/bin:/bin" % stubs})
    assert done.returncode == 0, done.stderr
    log = tmp_path / "apt.log"
    return (log.read_text().splitlines() if log.exists() else []), done.stdout


BASE = {"libfoo": "1.2-3", "libbar": "2.0-1", "ffmpeg": "7:5.1.6-0+deb12u1"}


def test_pinned_system_packages_the_base_has_run_no_apt_get(tmp_path):
    """Issue #14 item 11: a base that has the packages, pinned or not, builds with no
    apt-get (so with no network); a pin matches the installed version exactly or by
    apt's `*` wildcard."""
    step = system_packages_step(tmp_path, ["libfoo=1.2-3", "libbar=2.0*", "ffmpeg",
                                           "ffmpeg=7:5.1.6-0+deb12u1"])
    calls, printed = run_step_on_a_base(tmp_path, step, BASE)
    assert calls == []
    assert printed == ""


def test_system_packages_missing_or_at_another_version_are_installed(tmp_path):
    step = system_packages_step(tmp_path, ["libfoo=1.2-4", "libbar", "libgone", "libbar=3*"])
    calls, printed = run_step_on_a_base(tmp_path, step, BASE)
    assert calls == ["update -qq",
                     "install -qqy --no-install-recommends libfoo=1.2-4 libgone libbar=3*"]
    assert printed == "pinion: system_packages not in the base image: libfoo=1.2-4 libgone libbar=3*\n"


# --- serve --image: a CNI plugin's race with other engine work is tried once more -------

CNI_RACE = ('Error: plugin type="tuning" failed (add): unknown FS magic on '
            '"/run/netns/netns-5c1e4b2a-77c0-d1f3-9a52-0e7a1c6b9f04": 1021994')


def fake_runner(tmp_path, failures, message=CNI_RACE):
    """A podman on PATH whose `run` fails `failures` times with `message` on stderr (exit
    126, as podman does when it cannot start the container), then serves: prints
    "container up" and exits 0. Each `run` is logged to runs.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    runs = tmp_path / "runs.log"
    script = """#!/bin/sh
if [ "$1 $2" = "image inspect" ]; then echo '{}'; exit 0; fi
[ "$1" = run ] || exit 0
echo "$@" >> %(runs)s
if [ "$(wc -l < %(runs)s)" -le %(failures)d ]; then
  echo '%(message)s' >&2
  exit 126
fi
echo "container up"
echo "the model says bye" >&2
exit 0
""" % {"runs": runs, "failures": failures, "message": message}
    (bin_dir / "podman").write_text(script)
    (bin_dir / "podman").chmod(0o755)
    env = {"PATH": "%s:%s" % (bin_dir, os.environ["PATH"]), "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "PINION_ENGINE_NESTED": "0"}
    return env, runs


def serve_image(env):
    return run_pinion("serve", "--image", "localhost/acme/x:1", "--engine", "podman",
                      "--port", "8393", env=env, timeout=30)


def test_serve_image_starts_the_container_once_more_after_a_cni_race(tmp_path):
    env, runs = fake_runner(tmp_path, failures=1)
    result = serve_image(env)
    assert result.returncode == 0, result.stderr
    assert len(runs.read_text().splitlines()) == 2
    assert result.stdout == "container up\n"
    assert result.stderr.count(CNI_RACE + "\n") == 1  # the engine's own line, relayed
    assert ("warning: podman could not set up the container's network (a CNI plugin raced "
            "with other container work on this host: %s); starting it once more" % CNI_RACE
            ) in result.stderr
    assert result.stderr.endswith("the model says bye\n"), result.stderr


def test_serve_image_reports_a_cni_race_that_happens_twice_quoting_the_engine(tmp_path):
    env, runs = fake_runner(tmp_path, failures=2)
    result = serve_image(env)
    assert result.returncode == 126, result.stderr
    assert len(runs.read_text().splitlines()) == 2
    assert result.stdout == ""
    assert result.stderr.count(CNI_RACE + "\n") == 2 + 1  # each run's line, then the error
    assert "starting it once more" in result.stderr
    assert result.stderr.endswith(
        "error: podman could not set up the container's network twice in a row; it said: %s\n"
        % CNI_RACE), result.stderr


def test_serve_image_does_not_retry_other_engine_failures(tmp_path):
    """Only the CNI race is tried again: an image the engine cannot run, or a model that
    prints the same words but not as a CNI plugin's failure, fails at once."""
    for message in ("Error: crun: executable file `python3` not found in $PATH",
                    "Error: unknown FS magic on /tmp/x, said the model"):
        folder = tmp_path / str(len(message))
        folder.mkdir()
        env, runs = fake_runner(folder, failures=1, message=message)
        result = serve_image(env)
        assert result.returncode == 126, result.stderr
        assert len(runs.read_text().splitlines()) == 1
        assert "once more" not in result.stderr and message in result.stderr


def test_serve_image_passes_sigterm_on_to_the_engine(tmp_path):
    """`serve --image` waits for the engine instead of becoming it, so the hub's SIGTERM
    to it must reach the engine (which stops the container) and its status come back."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text("""#!/bin/sh
if [ "$1 $2" = "image inspect" ]; then echo '{}'; exit 0; fi
trap 'echo "engine got TERM" >&2; exit 143' TERM
echo up > %s/up
while :; do sleep 0.05; done
""" % tmp_path)
    (bin_dir / "podman").chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]), HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), PINION_ENGINE_NESTED="0")
    process = subprocess.Popen([PINION, "serve", "--image", "localhost/acme/x:1", "--engine",
                                "podman", "--port", "8393"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "up").exists():
            assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, stderr
    assert stderr.endswith("engine got TERM\n"), stderr
    assert "once more" not in stderr
