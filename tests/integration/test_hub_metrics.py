"""The hub's /metrics (--metrics-listen): per deployment, and per version with traffic,
what waits, what runs, the instances and their bounds, and the instances the scaling
rule wants, read from the hub's scheduler (embedded queue) and from Redis (streams'
lengths, pending entries and consumers); and the predictions the hub concluded, by
status, with their durations and queue waits, under the model server's names. Every text passes `promtool check metrics`;
the values asserted are the ones the predictions queued must give. Only a scrape with
the metrics token gets them, and the public listener has no /metrics."""
import os
import re
import time

import pytest
import requests

import redis_harness
from hub_harness import ROOT, Hub
from test_director import Director, director_credential
from test_serve_metrics import CONTENT_TYPE, check_with_promtool, parse

SLOW = os.path.join(ROOT, "tests", "fixtures", "hub_slow")
TOKEN = "metrics-token-0123456789abcdef"
TIMEOUT = 10


def metrics_hub(tmp_path, queue=None, args=()):
    token_file = tmp_path / "metrics.token"
    token_file.write_text(TOKEN + "\n")
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--metrics-listen", "127.0.0.1:0", "--metrics-token-file",
                    str(token_file), *args]).start()
    found = re.findall(r"metrics on (http://[0-9.]+:[0-9]+/metrics)", hub.read_log())
    assert found, hub.read_log()
    hub.metrics_url = found[-1]
    return hub


def scrape(hub):
    response = requests.get(hub.metrics_url, headers={"Authorization": "Bearer " + TOKEN},
                            timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    check_with_promtool(response.text)
    return parse(response.text)


def series(name, deployment=None, version=None):
    labels = []
    if deployment:
        labels.append('deployment="%s"' % deployment)
    if version:
        labels.append('version="%s"' % version)
    return "%s{%s}" % (name, ",".join(labels))


def target(samples, deployment=None, version=None):
    """The six numbers of one target (None where a series is absent)."""
    names = ("pinion_queue_depth", "pinion_predictions_in_flight", "pinion_instances",
             "pinion_instances_min", "pinion_instances_max", "pinion_instances_desired")
    return tuple(samples.get(series(name, deployment, version)) for name in names)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.2)


def wait_for_target(hub, expected, timeout, deployment=None, version=None):
    """Scrapes (each text at most a second old) until the target reads `expected`."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(hub)
        found = target(samples, deployment, version)
        if found == expected:
            return samples
        assert time.monotonic() < deadline, (deployment, version, found, expected)
        time.sleep(0.2)


def deploy(hub, name, version, min_instances, max_instances):
    response = hub.post("/v1/deployments", json={
        "name": name, "model": "alice/slow", "version": version, "hardware": "cpu",
        "min_instances": min_instances, "max_instances": max_instances})
    assert response.status_code == 200, response.text


def queue_on_deployment(hub, name, count, seconds):
    ids = []
    for n in range(count):
        response = hub.post("/v1/deployments/alice/%s/predictions" % name,
                            json={"input": {"n": n, "seconds": seconds}})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


DURATION_BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
                   "10", "30", "60", "120", "300", "600", "+Inf")
WAIT_BOUNDS = ("0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
               "0.5", "1", "2.5", "5", "10", "30", "60", "+Inf")


def target_labels(version, deployment=None, model="alice/slow"):
    """The labels the predictions a hub concluded carry before their own, in the text's
    order: those of the target they ran under."""
    labels = ['deployment="%s"' % deployment] if deployment else []
    return labels + ['model="%s"' % model, 'version="%s"' % version]


def labeled(name, labels, *own):
    return "%s{%s}" % (name, ",".join(list(labels) + list(own))) if labels or own else name


def concluded(succeeded, failed, canceled, started, labels=()):
    """The samples of the predictions a hub concluded under one target's `labels` (none:
    the series without target labels), under the model server's names, when every
    duration is under 60 s (and over 0.5 s when `started`, as the fixture model's slow
    predictions are), with zero sums where nothing was observed."""
    ended = succeeded + failed + canceled
    total = "pinion_predictions_total"
    duration, wait = "pinion_prediction_duration_seconds", "pinion_prediction_queue_wait_seconds"
    samples = {labeled(total, labels, 'status="succeeded"'): succeeded,
               labeled(total, labels, 'status="failed"'): failed,
               labeled(total, labels, 'status="canceled"'): canceled,
               labeled(duration + "_count", labels): ended,
               labeled(wait + "_count", labels): started}
    if not ended:
        samples.update({labeled(duration + "_bucket", labels, 'le="%s"' % b): 0
                        for b in DURATION_BOUNDS})
        samples[labeled(duration + "_sum", labels)] = 0
    if not started:
        samples.update({labeled(wait + "_bucket", labels, 'le="%s"' % b): 0 for b in WAIT_BOUNDS})
        samples[labeled(wait + "_sum", labels)] = 0
    return samples


def check_concluded(samples, succeeded, failed, canceled, started, labels=()):
    """Each count of one target as concluded() says; the histograms' buckets cumulative
    and complete."""
    expected = concluded(succeeded, failed, canceled, started, labels)
    assert {k: samples.get(k) for k in expected} == expected
    ended = succeeded + failed + canceled
    duration, wait = "pinion_prediction_duration_seconds", "pinion_prediction_queue_wait_seconds"
    assert samples[labeled(duration + "_bucket", labels, 'le="+Inf"')] == ended
    assert samples[labeled(duration + "_bucket", labels, 'le="60"')] == ended
    assert samples[labeled(wait + "_bucket", labels, 'le="+Inf"')] == started
    assert samples[labeled(wait + "_bucket", labels, 'le="60"')] == started
    assert samples[labeled(duration + "_sum", labels)] >= samples[labeled(wait + "_sum", labels)]


def concluded_targets(samples):
    """The label sets of the targets that have series of their own."""
    return sorted({key[len("pinion_predictions_total{"):key.index(",status=")]
                   for key in samples if key.startswith("pinion_predictions_total{") and
                   not key.startswith("pinion_predictions_total{status=")})


def cancel_all(hub, ids):
    for prediction in ids:
        hub.post("/v1/predictions/%s/cancel" % prediction)


def test_only_a_scrape_with_the_token_reads_the_metrics(tmp_path):
    hub = metrics_hub(tmp_path)
    try:
        missing = requests.get(hub.metrics_url, timeout=TIMEOUT)
        assert missing.status_code == 401
        assert "--metrics-token-file" in missing.json()["detail"]
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = requests.get(hub.metrics_url, headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"},
                             timeout=TIMEOUT)
        assert wrong.status_code == 401
        api_token = requests.get(hub.metrics_url,
                                 headers={"Authorization": "Bearer " + hub.token("alice")},
                                 timeout=TIMEOUT)
        assert api_token.status_code == 401
        other = requests.get(hub.metrics_url.replace("/metrics", "/v1/account"),
                             headers={"Authorization": "Bearer " + TOKEN}, timeout=TIMEOUT)
        assert other.status_code == 404
        posted = requests.post(hub.metrics_url, headers={"Authorization": "Bearer " + TOKEN},
                               timeout=TIMEOUT)
        assert posted.status_code == 405
        # The public listener has no /metrics, with or without a credential.
        for headers in ({}, {"Authorization": "Bearer " + TOKEN},
                        {"Authorization": "Bearer " + hub.token("alice")}):
            public = requests.get(hub.url + "/metrics", headers=headers, timeout=TIMEOUT)
            assert public.status_code == 404 and "pinion_queue_depth" not in public.text
        # An empty hub: the queue answered, no targets, nothing concluded yet, no finished
        # streams kept.
        assert scrape(hub) == {"pinion_queue_up": 1.0, "pinion_streams_retained": 0.0,
                               "pinion_streams_retained_bytes": 0.0, **concluded(0, 0, 0, 0)}
    finally:
        hub.stop()


def test_a_bad_token_file_or_address_stops_the_hub_with_the_reason(tmp_path):
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    from hub_harness import pinion
    result = pinion("hub", "--data", str(tmp_path / "a"), "--listen", "127.0.0.1:0",
                    "--metrics-listen", "127.0.0.1:0", "--metrics-token-file", str(short),
                    timeout=20)
    assert result.returncode == 1
    assert "holds 3 bytes on its first line; give a token of at least 16" in result.stderr
    result = pinion("hub", "--data", str(tmp_path / "b"), "--listen", "127.0.0.1:0",
                    "--metrics-listen", "127.0.0.1:0", "--metrics-token-file",
                    str(tmp_path / "absent"), timeout=20)
    assert result.returncode == 1 and "cannot read --metrics-token-file" in result.stderr
    result = pinion("hub", "--data", str(tmp_path / "c"), "--listen", "127.0.0.1:0",
                    "--metrics-listen", "127.0.0.1:99999", timeout=20)
    assert result.returncode == 1 and "--metrics-listen takes HOST:PORT" in result.stderr


def test_the_embedded_hub_counts_its_scheduler(tmp_path):
    hub = metrics_hub(tmp_path)
    ids = []
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        deploy(hub, "busy", version, 0, 2)
        deploy(hub, "quiet", version, 0, 4)
        samples = scrape(hub)
        # Deployments are there from the start; a version without traffic is not.
        assert target(samples, "alice/busy", version) == (0, 0, 0, 0, 2, 0)
        assert target(samples, "alice/quiet", version) == (0, 0, 0, 0, 4, 0)
        assert target(samples, None, version) == (None,) * 6
        ids = queue_on_deployment(hub, "busy", 5, 60)
        direct = hub.post("/v1/predictions", json={"version": version,
                                                   "input": {"n": 9, "seconds": 60}})
        assert direct.status_code == 201, direct.text
        ids.append(direct.json()["id"])
        # Two instances (max_instances) take one each; three wait; two are wanted.
        wait_for_target(hub, (3, 2, 2, 0, 2, 2), 60, "alice/busy", version)
        # The version's own target (max 1) runs the direct prediction.
        samples = wait_for_target(hub, (0, 1, 1, 0, 1, 1), 60, None, version)
        assert target(samples, "alice/quiet", version) == (0, 0, 0, 0, 4, 0)
        assert samples["pinion_queue_up"] == 1
        check_concluded(samples, 0, 0, 0, 0)
        # The three that run are processing (started) before the cancels.
        wait_for(lambda: sum(hub.get("/v1/predictions/" + i).json()["status"] == "processing"
                             for i in ids) == 3, 30, "three predictions processing")
        # Those that wait first, so that none of them starts on an instance freed by a
        # cancel.
        running = [i for i in ids if hub.get("/v1/predictions/" + i).json()["status"] ==
                   "processing"]
        cancel_all(hub, [i for i in ids if i not in running] + running)
        # Idle instances stay up for --idle-timeout; the rule wants none of them.
        samples = wait_for_target(hub, (0, 0, 2, 0, 2, 0), 30, "alice/busy", version)
        # Six canceled, three of which had started: one count each, none twice, each
        # under the target it ran on (the deployment's five, two of them started on its
        # two instances; the version's one), none without target labels.
        busy, direct = target_labels(version, "alice/busy"), target_labels(version)
        assert concluded_targets(samples) == sorted([",".join(busy), ",".join(direct)])
        check_concluded(samples, 0, 0, 5, 2, busy)
        check_concluded(samples, 0, 0, 1, 1, direct)
        check_concluded(samples, 0, 0, 0, 0)
        # A deleted deployment's series leave the text, then its version's; what they
        # counted is forgotten, not moved to the series without target labels.
        assert hub.request("DELETE", "/v1/deployments/alice/busy").status_code == 204
        wait_for(lambda: concluded_targets(scrape(hub)) == [",".join(direct)], 10,
                 "the deleted deployment's series to leave")
        response = hub.request("DELETE", "/v1/models/alice/slow/versions/" + version)
        assert response.status_code == 204, response.text
        wait_for(lambda: concluded_targets(scrape(hub)) == [], 10,
                 "the deleted version's series to leave")
        check_concluded(scrape(hub), 0, 0, 0, 0)
    finally:
        cancel_all(hub, ids)
        hub.stop()


@pytest.fixture(scope="module")
def redis():
    server = redis_harness.Redis().start()
    yield server
    server.close()


@pytest.mark.skipif(not redis_harness.available(),
                    reason="redis-server is not installed (scripts/install-deps)")
def test_a_hub_on_redis_counts_streams_pending_entries_and_directors(tmp_path, redis):
    queue = redis_harness.fresh_url(redis.url())
    hub = metrics_hub(tmp_path, queue=queue,
                      args=["--queue-lease", "1", "--queue-consumers", "directors"])
    director = None
    ids = []
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        deploy(hub, "busy", version, 0, 3)
        deploy(hub, "warm", version, 1, 4)
        ids = queue_on_deployment(hub, "busy", 4, 4)
        # No director yet: everything waits in the stream; three are wanted (max 3).
        samples = scrape(hub)
        assert target(samples, "alice/busy", version) == (4, 0, 0, 0, 3, 3)
        assert target(samples, "alice/warm", version) == (0, 0, 0, 1, 4, 1)
        assert samples["pinion_queue_up"] == 1
        _, credential_file = director_credential(hub, tmp_path)
        director = Director(str(tmp_path / "d"), hub, queue, credential_file, "hub_slow",
                            ["--deployment", "alice/busy"])
        # One director with one slot: one pending entry, three waiting, one consumer.
        wait_for_target(hub, (3, 1, 1, 0, 3, 3), 30, "alice/busy", version)
        # All done (acknowledged and deleted): the director idles, none is wanted. It
        # counts as an instance only within the lease of the last interaction Redis
        # records for it: before Redis 7.2 (Debian's is 7.0), XINFO CONSUMERS's `idle` is
        # reset by a delivery or a claim but not by an empty XREADGROUP, so an idle
        # director drops from 1 to 0 about a second after its last lease renewal, and a
        # text made a second apart may or may not catch the 1.
        wait_for(lambda: target(scrape(hub), "alice/busy", version) in
                 ((0, 0, 1, 0, 3, 0), (0, 0, 0, 0, 3, 0)), 40, "the busy deployment to idle")
        assert [hub.get("/v1/predictions/" + i).json()["output"] for i in ids] == [0, 1, 2, 3]
        # Concluded by this hub from the director's reports: four, each counted once, the
        # last of them having waited for the three before it (4 s each) on one slot.
        samples = scrape(hub)
        busy = target_labels(version, "alice/busy")
        assert concluded_targets(samples) == [",".join(busy)]
        check_concluded(samples, 4, 0, 0, 4, busy)
        check_concluded(samples, 0, 0, 0, 0)
        assert samples[labeled("pinion_prediction_queue_wait_seconds_bucket", busy,
                               'le="5"')] <= 2
        assert samples[labeled("pinion_prediction_duration_seconds_sum", busy)] > 4 * 4
        director.stop()
        director = None
        # Redis gone: the hub says so and leaves the counts out rather than guess (the
        # text is made again once the last is a second old).
        redis.stop()
        time.sleep(1.2)
        samples = scrape(hub)
        assert samples["pinion_queue_up"] == 0
        assert target(samples, "alice/busy", version) == (None, None, None, 0, 3, None)
    finally:
        if director:
            director.stop()
        cancel_all(hub, ids)
        hub.stop()
