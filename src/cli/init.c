/* `pinion init`: a starter cog.yaml and predict.py that `pinion predict` runs as
 * they are, without a warning: they use `run`, the name Cog 0.20+ prefers over the
 * deprecated `predict`. Existing files are never overwritten. */
#include "cli/cli.h"
#include "core/fs.h"

#include <stdio.h>
#include <string.h>

static const char starter_config[] =
    "# Configuration for Cog (and pinion): https://cog.run/yaml\n"
    "\n"
    "build:\n"
    "  # The Python version the model needs.\n"
    "  python_version: \"3.11\"\n"
    "\n"
    "  # Python packages, one per line, in a pip requirements file.\n"
    "  # python_requirements: requirements.txt\n"
    "\n"
    "  # Debian/Ubuntu packages the model needs.\n"
    "  # system_packages:\n"
    "  #   - \"libgl1\"\n"
    "\n"
    "# The predictor: the file and the class (or function) that runs predictions.\n"
    "run: \"predict.py:Predictor\"\n";

static const char starter_predictor[] =
    "# Prediction interface for Cog (and pinion): https://cog.run/python\n"
    "\n"
    "from cog import BasePredictor, Input\n"
    "\n"
    "\n"
    "class Predictor(BasePredictor):\n"
    "    def setup(self) -> None:\n"
    "        \"\"\"Load the model into memory to make running multiple predictions "
    "efficient.\"\"\"\n"
    "        self.greeting = \"hello\"\n"
    "\n"
    "    def run(\n"
    "        self,\n"
    "        name: str = Input(description=\"Who to greet\", default=\"world\"),\n"
    "    ) -> str:\n"
    "        \"\"\"Run a single prediction on the model.\"\"\"\n"
    "        return f\"{self.greeting} {name}\"\n";

static int write_new(const char *path, const char *text) {
  if (pn_fs_is_file(path)) {
    fprintf(stderr, "Skipped %s: it already exists\n", path);
    return 0;
  }
  if (pn_fs_write(path, text, strlen(text)) < 0) {
    fprintf(stderr, "error: could not write %s\n", path);
    return 1;
  }
  fprintf(stderr, "Wrote %s\n", path);
  return 0;
}

static int run_init(int argc, char **argv) {
  if (argc > 1) {
    fprintf(stderr, "pinion init: unexpected argument \"%s\". Run 'pinion help init'.\n", argv[1]);
    return 2;
  }
  int failed = write_new("cog.yaml", starter_config);
  failed |= write_new("predict.py", starter_predictor);
  if (!failed)
    fprintf(stderr, "\nTry it: pinion predict -i name=you\n");
  return failed;
}

const struct pn_cli_command pn_cli_init_command = {
    "init", "Write a starter cog.yaml and predict.py",
    "Usage: pinion init\n"
    "\n"
    "Writes a starter cog.yaml and predict.py in the current folder, ready for\n"
    "`pinion predict -i name=you`. Files that exist are left alone.\n",
    run_init};
