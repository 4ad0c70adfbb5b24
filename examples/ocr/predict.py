"""Optical character recognition with tesseract and its English data.

The image goes to the tesseract command line, which prints the text it reads.
"""
import shutil
import subprocess

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def setup(self):
        self.tesseract = shutil.which("tesseract")
        if not self.tesseract:
            raise RuntimeError("tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-eng")

    def predict(
        self,
        image: Path = Input(description="An image with printed English text"),
        page_segmentation: int = Input(description="tesseract's --psm mode (3: automatic, 6: one block, 7: one line)", default=3, ge=0, le=13),
    ) -> str:
        result = subprocess.run(
            [self.tesseract, str(image), "stdout", "-l", "eng", "--psm", str(page_segmentation)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"tesseract failed: {result.stderr.strip()}")
        return result.stdout.strip()
