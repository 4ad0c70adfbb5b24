"""`python -m pinion_worker`: see docs/internals/worker-protocol.md."""
import sys

from pinion_worker.main import main

sys.exit(main())
