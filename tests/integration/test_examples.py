"""The examples in examples/ run with `pinion predict` and give exactly what
examples/README.md promises."""
import json
import os
import pty
import shutil
import subprocess

from conftest import EXAMPLES, PINION, ROOT, TEST_PYTHON, run_pinion, run_pinion_on_a_terminal


def _example(name):
    return os.path.join(EXAMPLES, name)


def test_hello_with_i():
    # One sentence, on a terminal and piped alike (a string output is printed as is).
    assert run_pinion_on_a_terminal("predict", "-i", "name=world", cwd=_example("hello")) == (
        0, "hello there, world\n", "")
    result = run_pinion("predict", "-i", "name=world", cwd=_example("hello"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello there, world\n", "")


def test_hello_with_json():
    result = run_pinion("predict", "--json", '{"text":"Alice"}', cwd=_example("hello"))
    assert (result.returncode, result.stderr) == (0, "")
    response = json.loads(result.stdout)
    assert (response["status"], response["output"], response["error"]) == ("succeeded", "hello there, Alice", "")


def test_digits_reads_an_eight():
    result = run_pinion("predict", "-i", "image=@sample.png", cwd=_example("digits"), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        '{\n  "label": 8,\n  "probabilities": [\n    0.000395,\n    0.007157,\n    0.002782,\n'
        "    0.003239,\n    0.001376,\n    0.000484,\n    0.000745,\n    0.001703,\n    0.981431,\n"
        "    0.000686\n  ]\n}\n"
    )


def test_ocr_reads_the_sample():
    result = run_pinion("predict", "-i", "image=@sample.png", cwd=_example("ocr"))
    assert (result.returncode, result.stdout) == (0, "Hello from pinion\n"), result.stderr


def test_tts_writes_a_wave_file(tmp_path):
    folder = tmp_path / "tts"
    shutil.copytree(_example("tts"), folder)
    result = run_pinion("predict", "-i", "text=hello", cwd=folder)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "Written output to: output.wav\n")
    data = (folder / "output.wav").read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert int.from_bytes(data[4:8], "little") == len(data) - 8


def test_stream_prints_all_tokens():
    assert run_pinion_on_a_terminal("predict", "-i", "prompt=a b c", "-i", "delay=0", cwd=_example("stream")) == (
        0, "a b c\n", "")


def test_stream_prints_each_token_as_it_comes():
    env = dict(os.environ, PINION_PYTHON=TEST_PYTHON, NO_COLOR="1")
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [PINION, "predict", "-i", "prompt=first second", "-i", "delay=0.6"],
        cwd=_example("stream"), env=env, stdout=terminal, stderr=subprocess.PIPE,
    )
    os.close(terminal)
    try:
        first = os.read(controller, 64)
        still_running = process.poll() is None
        rest = b""
        while b"\n" not in rest:
            rest += os.read(controller, 64)
        process.wait(timeout=10)
    finally:
        process.kill()
        os.close(controller)
    assert first == b"first"
    assert still_running
    assert rest == b" second\r\n"
    assert process.returncode == 0


def test_embed_runs_openblas_on_one_thread_unless_told_otherwise():
    # Two OpenBLAS threads on a machine whose cores the server and clients share stall
    # the model's calls (examples/embed/predict.py): the model asks for one, before torch
    # loads OpenBLAS, and leaves an explicit OPENBLAS_NUM_THREADS alone.
    check = ("import ctypes, sys; sys.path[:0] = sys.argv[1:]; import predict; "
             "print(ctypes.CDLL('libblas.so.3').openblas_get_num_threads())")
    paths = [_example("embed"), os.path.join(ROOT, "build", "lib", "pinion", "python")]
    for given, threads in ((None, "1"), ("2", "2")):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if given:
            env["OPENBLAS_NUM_THREADS"] = given
        result = subprocess.run([TEST_PYTHON, "-c", check, *paths], env=env, capture_output=True, text=True,
                                timeout=120)
        assert (result.returncode, result.stdout.strip()) == (0, threads), result.stderr


def test_embed_gives_the_same_embeddings_batched_and_one_at_a_time():
    import concurrent.futures

    from serve_harness import Server

    texts = ["the cat sat on the mat", "a dog barked", "pinion serves models", "hello world",
             "batching reads the weights once", "", "The Cat sat on the mat!", "zebra"]
    outputs = {}
    for config in ("cog.yaml", "unbatched.yaml"):
        with Server(_example("embed"), config=config, wait=False) as server:
            # The model imports torch and makes its 80 MB of weights at setup.
            server.wait_status("READY", timeout=60)
            if config == "cog.yaml":  # all at once: they share batches
                with concurrent.futures.ThreadPoolExecutor(len(texts)) as pool:
                    bodies = list(pool.map(lambda text: server.predict({"text": text}, timeout=60), texts))
            else:  # one slot: one at a time
                bodies = [server.predict({"text": text}, timeout=60) for text in texts]
        outputs[config] = bodies
    batched, single = outputs["cog.yaml"], outputs["unbatched.yaml"]
    assert max(body["metrics"]["batch_size"] for body in batched) > 1
    assert all("batch_size" not in body["metrics"] for body in single)
    for one, other in zip(batched, single):
        assert len(one["output"]) == 64
        assert abs(sum(x * x for x in one["output"]) - 1) < 1e-3  # a unit vector
        assert max(abs(a - b) for a, b in zip(one["output"], other["output"])) <= 2e-4
    # Case and punctuation do not change the words.
    assert batched[0]["output"] == batched[6]["output"]
    assert batched[0]["output"] != batched[1]["output"]
