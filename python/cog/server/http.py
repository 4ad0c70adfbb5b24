"""`python -m cog.server.http`: Cog's launch line for its prediction server.

Images, Kubernetes manifests and scripts start Cog models with this command. pinion
honours it by handing over to `pinion serve` with the same flags, using this very
Python for the model, so nothing that launches a Cog container has to change.
"""
import os
import shutil
import sys

_PINION_FLAGS_WITH_VALUES = {"--host", "--port", "--upload-url", "--x-mode", "--threads", "--await-explicit-shutdown"}


def _pinion_binary():
    explicit = os.environ.get("PINION_BIN")
    if explicit:
        return explicit
    # Installed layout: <prefix>/lib/pinion/python/cog/server/http.py -> <prefix>/bin/pinion
    here = os.path.dirname(os.path.abspath(__file__))
    prefix = os.path.normpath(os.path.join(here, "..", "..", "..", "..", ".."))
    for candidate in (os.path.join(prefix, "bin", "pinion"), shutil.which("pinion")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _translate(argv):
    """Cog's flags, as Cog parses them, for `pinion serve`."""
    args = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in ("-v", "--version"):
            args.append("--version")
        elif arg in _PINION_FLAGS_WITH_VALUES and index + 1 < len(argv):
            args.extend([arg, argv[index + 1]])
            index += 1
        else:
            args.append(arg)
        index += 1
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    binary = _pinion_binary()
    if binary is None:
        sys.stderr.write("cog.server.http: pinion is not installed here (set PINION_BIN to its path)\n")
        return 1
    args = _translate(argv)
    if "--version" in args:
        os.execv(binary, [binary, "--version"])
    os.execv(binary, [binary, "serve", "--python", sys.executable] + args)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
