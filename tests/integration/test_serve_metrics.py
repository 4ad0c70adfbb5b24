"""`pinion serve`'s GET /metrics (docs/metrics.md): the counts and histograms after
real predictions, worker restarts by cause, slots while a prediction runs, GPU metrics
from an NVML stand-in, `promtool check metrics` on every text, and a real Prometheus
server scraping `pinion serve` and answering a query about it."""
import ctypes
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import pytest

from serve_harness import FIXTURES, Server, wait_for

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
NEEDS_PROMETHEUS = "install Debian's prometheus package (scripts/install-deps does)"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def parse(text):
    """The samples of a text exposition: {'name{labels}': float}; comments checked."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.startswith("# HELP ") or line.startswith("# TYPE "), line
            continue
        key, _, value = line.rpartition(" ")
        samples[key] = float(value)
    return samples


def scrape(server):
    response = server.get("/metrics")
    assert response.status == 200, response.body
    assert response.header("content-type") == CONTENT_TYPE
    text = response.body.decode()
    check_with_promtool(text)
    return parse(text)


def check_with_promtool(text):
    """promtool's checks (format and naming lint) pass with nothing to say."""
    assert PROMTOOL, NEEDS_PROMETHEUS
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                            capture_output=True, timeout=30)
    assert result.returncode == 0 and not result.stdout and not result.stderr, \
        (result.returncode, result.stdout, result.stderr, text)


def nvml_present():
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        return True
    except OSError:
        return False


def test_counts_and_histograms_after_two_successes_and_one_failure():
    with Server("serve_model") as s:
        before = scrape(s)
        assert before['pinion_predictions_total{status="succeeded"}'] == 0
        assert before["pinion_prediction_duration_seconds_count"] == 0
        assert s.predict({"text": "one"})["status"] == "succeeded"
        assert s.predict({"text": "two"})["status"] == "succeeded"
        failed = s.predict({"mode": "raise"})
        assert failed["status"] == "failed"
        samples = scrape(s)
        assert samples['pinion_predictions_total{status="succeeded"}'] == 2
        assert samples['pinion_predictions_total{status="failed"}'] == 1
        assert samples['pinion_predictions_total{status="canceled"}'] == 0
        for histogram in ("pinion_prediction_duration_seconds",
                          "pinion_prediction_queue_wait_seconds"):
            assert samples[histogram + "_count"] == 3
            assert samples[histogram + '_bucket{le="+Inf"}'] == 3
            assert samples[histogram + "_sum"] > 0
        # The failed prediction's own predict_time is among the observations.
        assert samples["pinion_prediction_duration_seconds_sum"] >= \
            failed["metrics"]["predict_time"]
        assert samples["pinion_slots"] == 1
        assert samples["pinion_slots_in_use"] == 0
        assert all(samples['pinion_worker_restarts_total{cause="%s"}' % cause] == 0 for cause in
                   ("crash", "killed", "cancel_timeout", "protocol_error", "reload"))
        assert 0 < samples["pinion_setup_duration_seconds"] < 60
        assert samples["process_resident_memory_bytes"] > 1 << 20
        assert samples["pinion_worker_resident_memory_bytes"] > 1 << 20
        if not nvml_present():
            assert not [key for key in samples if key.startswith("pinion_gpu_")]
        assert s.post("/metrics").status == 405


def test_worker_restarts_are_counted_by_cause():
    with Server("serve_model") as s:
        assert s.predict({"mode": "segfault"})["status"] == "failed"
        s.wait_status("READY")
        assert s.predict({"mode": "kill"})["status"] == "failed"
        s.wait_status("READY")
        samples = scrape(s)
        assert samples['pinion_worker_restarts_total{cause="crash"}'] == 1
        assert samples['pinion_worker_restarts_total{cause="killed"}'] == 1
        assert samples['pinion_worker_restarts_total{cause="cancel_timeout"}'] == 0
        assert samples['pinion_predictions_total{status="failed"}'] == 2


def test_a_prediction_that_ignores_cancellation_counts_as_canceled_and_a_restart():
    with Server("serve_model", config="ignore.yaml", env={"PINION_CANCEL_GRACE": "0.3"}) as s:
        result = {}
        thread = threading.Thread(target=lambda: result.update(body=s.predict(
            {"seconds": 8}, id="stubborn")))
        thread.start()
        wait_for(lambda: s.health()["status"] == "BUSY")
        busy = scrape(s)
        assert busy["pinion_slots_in_use"] == 1 and busy["pinion_slots"] == 1
        time.sleep(0.2)
        assert s.post("/predictions/stubborn/cancel").status == 200
        thread.join(10)
        assert result["body"]["status"] == "canceled"
        s.wait_status("READY")
        samples = scrape(s)
        assert samples['pinion_predictions_total{status="canceled"}'] == 1
        assert samples['pinion_worker_restarts_total{cause="cancel_timeout"}'] == 1, [(k, v) for k, v in samples.items() if "restart" in k]
        assert samples['pinion_worker_restarts_total{cause="crash"}'] == 0
        assert samples["pinion_slots_in_use"] == 0


class SlowFile(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a small file after half a second."""

    def do_GET(self):
        time.sleep(0.5)
        body = b"slow"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_queue_wait_includes_the_input_download():
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowFile)
    files.daemon_threads = True
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        with Server("serve_model", config="files.yaml") as s:
            url = "http://127.0.0.1:%d/slow.txt" % files.server_address[1]
            body = s.predict({"mode": "input", "source": url})
            assert body["status"] == "succeeded", body
            samples = scrape(s)
            assert samples["pinion_prediction_queue_wait_seconds_count"] == 1
            assert samples["pinion_prediction_queue_wait_seconds_sum"] >= 0.5
            assert samples['pinion_prediction_queue_wait_seconds_bucket{le="0.25"}'] == 0
            assert samples['pinion_prediction_queue_wait_seconds_bucket{le="+Inf"}'] == 1
            assert samples["pinion_prediction_duration_seconds_sum"] >= \
                samples["pinion_prediction_queue_wait_seconds_sum"]
    finally:
        files.shutdown()
        files.server_close()


def test_setup_time_and_a_restart_for_changed_code():
    folder = tempfile.mkdtemp(prefix="pinion-metrics-model-")
    model = os.path.join(folder, "model")
    shutil.copytree(os.path.join(FIXTURES, "serve_model"), model)
    try:
        with Server(model, config="slowsetup.yaml", args=["--reload"],
                    env={"SETUP_SECONDS": "0.5"}) as s:
            first = scrape(s)
            assert 0.5 <= first["pinion_setup_duration_seconds"] < 30
            assert first['pinion_worker_restarts_total{cause="reload"}'] == 0
            started = s.health()["setup"]["started_at"]
            code = os.path.join(model, "predict.py")
            with open(code, "a") as f:
                f.write("\n# changed\n")
            later = time.time() + 5
            os.utime(code, (later, later))
            wait_for(lambda: s.health()["setup"]["started_at"] != started, what="the reload")
            s.wait_status("READY")
            samples = scrape(s)
            assert samples['pinion_worker_restarts_total{cause="reload"}'] == 1
            assert samples['pinion_worker_restarts_total{cause="crash"}'] == 0
            assert 0.5 <= samples["pinion_setup_duration_seconds"] < 30
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# A stand-in for libnvidia-ml.so.1 with two GPUs. The first answers the second version of
# the memory call (used without the driver's reservation), which pinion prefers; the
# second only the first version (reserved counted as used), and cannot say how busy it is.
FAKE_NVML = r"""
typedef struct { unsigned long long total, free, used; } memory;
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } memory_v2;
typedef struct { unsigned int gpu, memory; } utilization;
int nvmlInit_v2(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned int *count) { *count = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device) {
  *device = (void *)(unsigned long)(index + 1); return 0; }
int nvmlDeviceGetMemoryInfo(void *device, memory *out) {
  unsigned long index = (unsigned long)device - 1;
  out->total = 80000000000ull; out->used = 1000000000ull * (index + 1) + 500000000ull;
  out->free = out->total - out->used; return 0; }
int nvmlDeviceGetMemoryInfo_v2(void *device, memory_v2 *out) {
  if (out->version != (sizeof(memory_v2) | (2u << 24))) return 25; /* VERSION_MISMATCH */
  if ((unsigned long)device == 2) return 3; /* NVML_ERROR_NOT_SUPPORTED */
  out->total = 80000000000ull; out->reserved = 500000000ull; out->used = 1000000000ull;
  out->free = out->total - out->reserved - out->used; return 0; }
int nvmlDeviceGetUtilizationRates(void *device, utilization *out) {
  if ((unsigned long)device == 2) return 3;
  out->gpu = 42; out->memory = 7; return 0; }
"""


def test_gpu_metrics_come_from_nvml_when_it_is_there():
    folder = tempfile.mkdtemp(prefix="pinion-fake-nvml-")
    try:
        source = os.path.join(folder, "nvml.c")
        with open(source, "w") as f:
            f.write(FAKE_NVML)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", os.path.join(folder, "libnvidia-ml.so.1"),
                        source], check=True, timeout=60)
        with Server("serve_model", env={"LD_LIBRARY_PATH": folder}) as s:
            samples = scrape(s)
            assert samples['pinion_gpu_memory_used_bytes{gpu="0"}'] == 1e9
            assert samples['pinion_gpu_memory_used_bytes{gpu="1"}'] == 2.5e9
            assert samples['pinion_gpu_memory_total_bytes{gpu="0"}'] == 8e10
            assert samples['pinion_gpu_memory_total_bytes{gpu="1"}'] == 8e10
            assert samples['pinion_gpu_utilization_ratio{gpu="0"}'] == 0.42
            assert 'pinion_gpu_utilization_ratio{gpu="1"}' not in samples
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def query(port, expression):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (
        port, urllib.parse.urlencode({"query": expression}))
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None  # not listening yet


def test_a_prometheus_server_scrapes_serve_and_answers_a_query():
    assert PROMETHEUS, NEEDS_PROMETHEUS
    folder = tempfile.mkdtemp(prefix="pinion-prometheus-")
    prometheus = None
    try:
        with Server("serve_model") as s:
            s.predict({"text": "one"})
            s.predict({"text": "two"})
            config = os.path.join(folder, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                        "scrape_configs:\n  - job_name: pinion\n    static_configs:\n"
                        "      - targets: ['127.0.0.1:%d']\n" % s.port)
            port = free_port()
            log = open(os.path.join(folder, "prometheus.log"), "wb")
            prometheus = subprocess.Popen(
                [PROMETHEUS, "--config.file=" + config,
                 "--storage.tsdb.path=" + os.path.join(folder, "data"),
                 "--web.listen-address=127.0.0.1:%d" % port],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
            log.close()

            def succeeded():
                assert prometheus.poll() is None, "prometheus exited:\n" + \
                    open(os.path.join(folder, "prometheus.log")).read()
                answer = query(port, 'pinion_predictions_total{status="succeeded"}')
                results = answer and answer["data"]["result"]
                return results and results[0]

            result = wait_for(succeeded, timeout=30, interval=0.5,
                              what="Prometheus to have scraped pinion serve")
            assert result["metric"]["job"] == "pinion"
            assert result["metric"]["instance"] == "127.0.0.1:%d" % s.port
            assert result["value"][1] == "2"
            up = query(port, 'up{job="pinion"}')["data"]["result"]
            assert up and up[0]["value"][1] == "1"
    finally:
        if prometheus:
            if prometheus.poll() is None:
                prometheus.send_signal(signal.SIGTERM)
                try:
                    prometheus.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(prometheus.pid, signal.SIGKILL)
                    prometheus.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
