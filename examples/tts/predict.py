"""Text to speech with espeak-ng: text in, a WAV file out."""
import shutil
import subprocess
import tempfile

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def setup(self):
        self.espeak = shutil.which("espeak-ng")
        if not self.espeak:
            raise RuntimeError("espeak-ng is not installed: apt-get install espeak-ng")

    def predict(
        self,
        text: str = Input(description="What to say"),
        voice: str = Input(description="espeak-ng voice", default="en", choices=["en", "en-us", "en-gb", "de", "fr", "es"]),
        speed: int = Input(description="Words per minute", default=160, ge=80, le=400),
    ) -> Path:
        folder = tempfile.mkdtemp(prefix="tts-")
        path = Path(folder) / "speech.wav"
        result = subprocess.run(
            [self.espeak, "-v", voice, "-s", str(speed), "-w", str(path), text],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"espeak-ng failed: {result.stderr.strip()}")
        return path
