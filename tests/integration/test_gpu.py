"""GPU models. Without a GPU: a `gpu: true` model still runs, after a warning that
says no GPU is visible. With one (and a Python that has torch, PINION_GPU_PYTHON,
default python3): a torch model runs on CUDA through `pinion predict` and `pinion
serve`, and its result matches the same arithmetic done on the CPU."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import FIXTURES, run_pinion

GPU_PYTHON = os.environ.get("PINION_GPU_PYTHON", "python3")


def has_gpu():
    return os.path.isdir("/proc/driver/nvidia/gpus") and os.listdir("/proc/driver/nvidia/gpus") or any(
        name.startswith("nvidia") and name[6:].isdigit() for name in os.listdir("/dev")
    )


def has_torch():
    python = shutil.which(GPU_PYTHON)
    if not python:
        return False
    result = subprocess.run([python, "-c", "import torch"], capture_output=True, timeout=60)
    return result.returncode == 0


def test_gpu_model_without_gpu_warns_and_runs(tmp_path):
    empty_root = tmp_path / "root"
    empty_root.mkdir()
    result = run_pinion("predict", cwd=FIXTURES + "/gpu_plain", env={"PINION_GPU_ROOT": str(empty_root)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ran\n"
    assert (
        f"warning: {FIXTURES}/gpu_plain/cog.yaml asks for a GPU (build.gpu: true) but no NVIDIA GPU is "
        "visible here; the model runs on the CPU if it can\n"
    ) in result.stderr


@pytest.mark.skipif(not has_gpu(), reason="no NVIDIA GPU on this machine")
@pytest.mark.skipif(not has_torch(), reason="no torch in the GPU Python")
def test_torch_model_runs_on_cuda():
    result = run_pinion("predict", "-i", "scale=2", cwd=FIXTURES + "/gpu_torch", env={"PINION_PYTHON": GPU_PYTHON},
                        timeout=300)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["cuda"] is True
    assert output["device"].startswith("NVIDIA")
    expected = subprocess.run(
        [shutil.which(GPU_PYTHON), "-c",
         "import torch; g = torch.Generator().manual_seed(0); w = torch.rand(256, 256, generator=g, "
         "dtype=torch.float64); print(round(float(((w * 2) @ w).sum()), 3))"],
        capture_output=True, text=True, timeout=120, check=True)
    assert abs(output["checksum"] - float(expected.stdout)) < 1e-6 * abs(float(expected.stdout))
    assert "warning" not in result.stderr
