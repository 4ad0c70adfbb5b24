"""Image commands that need no engine: `pinion build --dockerfile`, the messages when
no engine is usable, and flag checks."""
import os

from conftest import EXAMPLES, run_pinion


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
