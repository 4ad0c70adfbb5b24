"""`make install PREFIX=...` gives a pinion that finds its Python support beside it."""
import os
import subprocess

from conftest import EXAMPLES, ROOT, TEST_PYTHON


def test_installed_pinion_runs_a_model(tmp_path):
    prefix = tmp_path / "prefix"
    subprocess.run(["make", "-s", "install", f"PREFIX={prefix}"], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    binary = prefix / "bin" / "pinion"
    assert (prefix / "lib" / "pinion" / "python" / "cog" / "__init__.py").is_file()
    assert (prefix / "lib" / "pinion" / "python" / "_pinion.abi3.so").is_file()
    env = dict(os.environ, PINION_PYTHON=TEST_PYTHON, NO_COLOR="1")
    env.pop("PINION_PYTHON_DIR", None)
    result = subprocess.run([str(binary), "predict", "-i", "name=installed"], cwd=EXAMPLES + "/hello",
                            env=env, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, "hello there, installed\n"), result.stderr
