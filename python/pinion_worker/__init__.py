"""pinion's worker: runs inside the model's Python, loads the predictor and answers the
server over the socketpair (docs/internals/worker-protocol.md, docs/internals/worker.md)."""
