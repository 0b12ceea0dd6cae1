"""Training on more than one device or machine with `tf.distribute`.

- `make_strategy`: the strategy behind `zoo train --strategy`, from
  `TF_CONFIG` for a cluster of workers.
- `cluster_role`: which worker this process is, and whether it is the chief
  (the one worker that writes checkpoints, logs, the model and the export).
- `ClusterBackupAndRestore`: epoch checkpoints that survive losing a worker.
- `MultiWorkerFitFixes`: the two Keras 3.15 workarounds that let `model.fit`
  run under `MultiWorkerMirroredStrategy`; every zoo model has them.
"""

from zoo.distribute.backup import ClusterBackupAndRestore
from zoo.distribute.keras_fixes import MultiWorkerFitFixes, in_multi_worker_mode
from zoo.distribute.strategies import (
    STRATEGIES,
    ClusterRole,
    cluster_role,
    make_strategy,
    replica_share,
)

__all__ = [
    "STRATEGIES",
    "ClusterBackupAndRestore",
    "ClusterRole",
    "MultiWorkerFitFixes",
    "cluster_role",
    "in_multi_worker_mode",
    "make_strategy",
    "replica_share",
]
