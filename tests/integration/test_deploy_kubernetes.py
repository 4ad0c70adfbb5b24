"""Kubernetes, offline: `pinion deploy kubernetes` reads a deployment and its version
from a real hub and prints manifests whose fields are asserted one by one (the model's
image, the director's arguments, the GPU request, KEDA's bounds and stream), and that
`kubernetes-models` and `@kubernetes-models/keda` (tests/k8s, npm) validate against
Kubernetes' and KEDA's schemas; deploy/kubernetes renders with `kubectl kustomize` and
validates the same way. The YAML the command writes reads back (PyYAML) as exactly its
JSON output."""
import json
import os
import shutil
import subprocess

import pytest
import requests
import yaml

from hub_harness import ROOT, Hub, pinion

SLOW = os.path.join(ROOT, "tests", "fixtures", "hub_slow")
K8S_TESTS = os.path.join(ROOT, "tests", "k8s")
NEEDS = "run scripts/install-deps (it installs kubectl and tests/k8s's npm packages)"
IMAGE = "registry.example:5000/alice/slow@sha256:" + "ab" * 32
TIMEOUT = 10


def validate(objects):
    """Each object checked against its schema by tests/k8s/validate.mjs."""
    assert os.path.isdir(os.path.join(K8S_TESTS, "node_modules", "@kubernetes-models", "keda")), \
        NEEDS
    result = subprocess.run(["node", "validate.mjs"], cwd=K8S_TESTS, input=json.dumps(objects),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deploy")
    hub = Hub(folder / "hub").start()
    try:
        # A CPU folder version (hub_slow), and the same model asking for a GPU.
        hub.cpu_version = hub.push(None, "alice/slow", cwd=SLOW)
        gpu_folder = folder / "gpu_model"
        shutil.copytree(SLOW, gpu_folder)
        (gpu_folder / "cog.yaml").write_text(
            'build:\n  gpu: true\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n')
        hub.gpu_version = hub.push(None, "alice/gpu", cwd=str(gpu_folder))
        # An image version that needs a GPU, as `pinion push --image` publishes it.
        schema = hub.get("/v1/models/alice/slow/versions/" + hub.cpu_version).json()
        response = hub.post("/v1/models/alice/imaged/versions", json={
            "image": IMAGE, "openapi_schema": schema["openapi_schema"], "gpu": True})
        assert response.status_code == 201, response.text
        hub.image_version = response.json()["id"]
        for name, model, version, hardware, low, high in (
                ("cpu", "alice/slow", hub.cpu_version, "cpu", 0, 3),
                ("gpu", "alice/gpu", hub.gpu_version, "cpu", 1, 2),
                ("imaged", "alice/imaged", hub.image_version, "gpu-2x-nvidia", 0, 5)):
            created = hub.post("/v1/deployments", json={
                "name": name, "model": model, "version": version, "hardware": hardware,
                "min_instances": low, "max_instances": high})
            assert created.status_code == 200, created.text
        yield hub
    finally:
        hub.stop()


def deploy(hub, name, *flags, output="json"):
    result = pinion("deploy", "kubernetes", "alice/" + name, "--hub", hub.url, "--token",
                    hub.token("alice"), "--output", output, *flags)
    return result


def manifests(hub, name, *flags):
    result = deploy(hub, name, *flags)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert listed["apiVersion"] == "v1" and listed["kind"] == "List"
    as_yaml = deploy(hub, name, *flags, output="yaml")
    assert as_yaml.returncode == 0, as_yaml.stderr
    assert list(yaml.safe_load_all(as_yaml.stdout)) == listed["items"]
    return {item["kind"]: item for item in listed["items"]}


def containers(deployment):
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}


def test_the_version_runtime_says_how_a_version_runs(hub):
    def runtime(model, version):
        response = hub.get("/v1/models/%s/versions/%s/runtime" % (model, version))
        assert response.status_code == 200, response.text
        return response.json()
    assert runtime("alice/slow", hub.cpu_version) == {"kind": "folder", "image": None, "gpu": False}
    assert runtime("alice/gpu", hub.gpu_version) == {"kind": "folder", "image": None, "gpu": True}
    assert runtime("alice/imaged", hub.image_version) == {"kind": "image", "image": IMAGE,
                                                          "gpu": True}
    assert hub.get("/v1/models/alice/slow/versions/nope/runtime").status_code == 404
    assert hub.get("/v1/models/alice/slow/versions/%s/runtime" % hub.cpu_version,
                   account="bob").status_code == 404


def test_a_cpu_folder_deployment_needs_an_image_and_scales_from_zero(hub):
    refused = deploy(hub, "cpu")
    assert refused.returncode == 1 and not refused.stdout
    assert "runs a folder version" in refused.stderr and "--image IMAGE" in refused.stderr
    found = manifests(hub, "cpu", "--image", "registry.example/slow:1", "--namespace", "models")
    deployment, scaled = found["Deployment"], found["ScaledObject"]
    assert sorted(found) == ["Deployment", "NetworkPolicy", "ScaledObject"]
    assert deployment["metadata"]["name"] == "pinion-alice-cpu"
    assert all(item["metadata"]["namespace"] == "models" for item in found.values())
    assert "replicas" not in deployment["spec"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 630
    model, director = containers(deployment)["model"], containers(deployment)["director"]
    assert model["image"] == "registry.example/slow:1"
    assert "resources" not in model
    assert model["readinessProbe"]["httpGet"] == {"path": "/health-check", "port": 5000}
    assert director["image"] == "pinion:" + open(os.path.join(ROOT, "VERSION")).read().strip()
    assert director["args"] == [
        "director", "--hub", "http://pinion-hub:8081", "--queue", "redis://pinion-redis:6379/0",
        "--credential", "/var/run/pinion/director/credential", "--model-url",
        "http://127.0.0.1:5000", "--deployment", "alice/cpu", "--slots", "1",
        "--drain-timeout", "600", "--listen", "0.0.0.0:4900"]
    assert director["livenessProbe"]["httpGet"] == {"path": "/health", "port": 4900}
    assert director["startupProbe"]["failureThreshold"] * \
        director["startupProbe"]["periodSeconds"] == 600
    assert pod["volumes"] == [{"name": "director-credential", "secret": {
        "secretName": "pinion-director", "defaultMode": 0o444}}]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "pinion-alice-cpu"
    assert scaled["spec"]["minReplicaCount"] == 0 and scaled["spec"]["maxReplicaCount"] == 3
    assert scaled["spec"]["triggers"] == [{"type": "redis-streams", "metadata": {
        "address": "pinion-redis:6379", "databaseIndex": "0",
        "stream": "pinion:queue:deployment:alice/cpu", "streamLength": "1"}}]
    assert found["NetworkPolicy"]["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/instance": "pinion-alice-cpu"}},
        "policyTypes": ["Ingress"], "ingress": []}
    assert validate(list(found.values())) == [
        "ok Deployment pinion-alice-cpu", "ok NetworkPolicy pinion-alice-cpu",
        "ok ScaledObject pinion-alice-cpu"]


def test_a_gpu_version_gets_a_gpu_and_the_flags_reach_the_director(hub):
    found = manifests(hub, "gpu", "--image", "registry.example/gpu:2", "--slots", "4",
                      "--prediction-timeout", "3600", "--queue", "redis://redis.queue:6380/2",
                      "--queue-password-secret", "redis-auth", "--internal-url",
                      "http://hub.pinion.svc:8081", "--pinion-image", "registry.example/pinion:9")
    deployment, scaled = found["Deployment"], found["ScaledObject"]
    model, director = containers(deployment)["model"], containers(deployment)["director"]
    assert model["resources"] == {"requests": {"nvidia.com/gpu": 1},
                                  "limits": {"nvidia.com/gpu": 1}}
    assert "resources" not in director
    assert director["image"] == "registry.example/pinion:9"
    args = director["args"]
    assert args[args.index("--hub") + 1] == "http://hub.pinion.svc:8081"
    assert args[args.index("--queue") + 1] == "redis://redis.queue:6380/2"
    assert args[args.index("--slots") + 1] == "4"
    assert args[args.index("--drain-timeout") + 1] == "3600"
    assert director["env"] == [{"name": "PINION_QUEUE_PASSWORD", "valueFrom": {
        "secretKeyRef": {"name": "redis-auth", "key": "password"}}}]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 3630
    assert scaled["spec"]["minReplicaCount"] == 1 and scaled["spec"]["maxReplicaCount"] == 2
    assert scaled["spec"]["triggers"][0]["metadata"] == {
        "address": "redis.queue:6380", "databaseIndex": "2",
        "stream": "pinion:queue:deployment:alice/gpu", "streamLength": "4",
        "passwordFromEnv": "PINION_QUEUE_PASSWORD"}
    validate(list(found.values()))
    # --gpus 0 overrides the version.
    found = manifests(hub, "gpu", "--image", "registry.example/gpu:2", "--gpus", "0")
    assert "resources" not in containers(found["Deployment"])["model"]


def test_an_image_version_runs_its_image_with_the_hardwares_gpus(hub):
    found = manifests(hub, "imaged")
    model = containers(found["Deployment"])["model"]
    assert model["image"] == IMAGE
    assert model["resources"]["limits"] == {"nvidia.com/gpu": 2}
    assert found["ScaledObject"]["spec"]["maxReplicaCount"] == 5
    validate(list(found.values()))


def test_bad_requests_say_what_to_do(hub):
    missing = deploy(hub, "nothing", "--image", "x")
    assert missing.returncode == 1
    assert "answered HTTP 404 for alice/nothing" in missing.stderr
    with_password = deploy(hub, "cpu", "--image", "x", "--queue", "redis://:secret@r:6379/0")
    assert with_password.returncode == 1 and "secret" not in with_password.stdout
    assert "--queue-password-secret" in with_password.stderr
    bad_image = deploy(hub, "cpu", "--image", "two words")
    assert bad_image.returncode == 1 and "--image takes an image reference" in bad_image.stderr
    assert deploy(hub, "cpu", "--slots", "0").returncode == 2
    no_hub = pinion("deploy", "kubernetes", "alice/cpu")
    assert no_hub.returncode == 2 and "--hub URL" in no_hub.stderr
    nowhere = pinion("deploy", "alice/cpu")
    assert nowhere.returncode == 2 and "pinion deploy kubernetes" in nowhere.stderr
    elsewhere = pinion("deploy", "kubernetes", "alice/cpu", "--hub", "http://127.0.0.1:9",
                       "--token", "t")
    assert elsewhere.returncode == 1 and "cannot reach the hub" in elsewhere.stderr


def test_long_names_stay_within_63_characters(hub):
    long_name = "a" * 60
    created = hub.post("/v1/deployments", json={
        "name": long_name, "model": "alice/slow", "version": hub.cpu_version, "hardware": "cpu",
        "min_instances": 0, "max_instances": 1})
    assert created.status_code == 200, created.text
    found = manifests(hub, long_name, "--image", "x")
    name = found["Deployment"]["metadata"]["name"]
    assert len(name) == 63 and name.startswith("pinion-alice-aaaa")
    assert found["ScaledObject"]["spec"]["scaleTargetRef"]["name"] == name
    validate(list(found.values()))


def test_the_kustomize_base_renders_and_validates():
    kubectl = shutil.which("kubectl")
    assert kubectl, NEEDS
    result = subprocess.run([kubectl, "kustomize", os.path.join(ROOT, "deploy", "kubernetes")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    objects = [item for item in yaml.safe_load_all(result.stdout) if item]
    found = {(item["kind"], item["metadata"]["name"]): item for item in objects}
    assert sorted(found) == [
        ("Deployment", "pinion-hub"), ("PersistentVolumeClaim", "pinion-hub-data"),
        ("Service", "pinion-hub"), ("Service", "pinion-postgres"), ("Service", "pinion-redis"),
        ("StatefulSet", "pinion-postgres"), ("StatefulSet", "pinion-redis")]
    hub_args = found[("Deployment", "pinion-hub")]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert hub_args[hub_args.index("--queue") + 1] == "redis://pinion-redis:6379/0"
    assert hub_args[hub_args.index("--queue-consumers") + 1] == "directors"
    assert hub_args[hub_args.index("--internal-listen") + 1] == "0.0.0.0:8081"
    redis_args = found[("StatefulSet", "pinion-redis")]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert redis_args[redis_args.index("--appendonly") + 1] == "yes"
    ports = {p["name"]: p["port"] for p in found[("Service", "pinion-hub")]["spec"]["ports"]}
    assert ports == {"http": 8080, "internal": 8081}  # the metrics port is not in the Service
    postgres_env = found[("StatefulSet", "pinion-postgres")]["spec"]["template"]["spec"][
        "containers"][0]["env"]
    assert {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "pinion-postgres", "key": "password"}}} in postgres_env
    assert len(validate(objects)) == 7
