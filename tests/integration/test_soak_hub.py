"""A short run of bench/soak-hub (issue 11): `pinion serve` and `pinion hub` together
under legitimate clients (sync, async with webhooks, SSE streams, file outputs) and
hostile ones (slowloris, oversize bodies without a token, bad tokens, connection floods,
hostile input URLs, bursts of data: URIs). The 10-minute run is by hand
(bench/RESULTS.md, "Soak")."""
import json
import os
import subprocess

from hub_harness import PINION, ROOT, TEST_PYTHON


def test_a_short_soak_loses_nothing_and_every_hostile_client_gets_its_answer(tmp_path):
    figures = tmp_path / "soak.json"
    result = subprocess.run(
        [TEST_PYTHON, os.path.join(ROOT, "bench", "soak-hub"), "--seconds", "20", "--sample", "2",
         "--json", str(figures)],
        env=dict(os.environ, PINION=PINION, PINION_PYTHON=TEST_PYTHON), capture_output=True,
        text=True, timeout=300)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    soak = json.loads(figures.read_text())
    assert soak["lost"] == 0 and soak["hostile unexpected"] == 0, soak["problems"]
    legit = soak["legitimate"]
    for kind in ("serve sync", "serve async", "serve SSE", "hub sync", "hub async", "hub stream"):
        assert legit[kind].get("succeeded", 0) > 0, (kind, legit)
        assert legit[kind].get("lost", 0) == 0, (kind, legit)
    hooks = soak["webhooks"]
    assert hooks["expected"] == legit["serve async"]["created"] + legit["hub async"]["created"]
    assert hooks["delivered once"] == hooks["expected"], hooks
    assert hooks["duplicated"] == 0 and hooks["missing"] == 0, hooks
    hostile = soak["hostile"]
    for kind, answer in (("slowloris headers (serve)", "408"), ("slowloris body (hub)", "408"),
                         ("oversize Content-Length (hub)", "413"), ("bad token (hub)", "401"),
                         ("connection flood (serve)", "served again"),
                         ("connection flood (hub)", "served again"),
                         ("redirect input URL (serve)", "failed"), ("drip input URL (serve)", "failed"),
                         ("bomb input URL (serve)", "failed"), ("data: URIs, 1001 (serve)", "422"),
                         ("data: URIs, 900 (serve)", "succeeded")):
        assert hostile.get(kind, {}).get(answer, 0) > 0, (kind, hostile.get(kind))
    # Too short to judge flatness; a leak of the magnitude of the traffic would show.
    for name, figures in soak["rss_mib"].items():
        assert figures["max"] < 512, (name, figures)
