"""Epoch checkpoints that every worker of a cluster restores from, written atomically."""

import hashlib
import json
import os
import shutil
import tempfile

import keras

from zoo.distribute.strategies import cluster_role

STATE_FILE = "state.json"


class ClusterBackupAndRestore(keras.callbacks.Callback):
    """Backs up the training state every epoch; a restarted `fit` resumes from it.

    The role of `keras.callbacks.BackupAndRestore`, for a cluster. Keras 3's
    callback has every worker write the same two files in place, so two
    workers race on them and a worker killed mid-write leaves a weights file
    that cannot be read or a count of epochs that does not match the
    weights. Here:

    - Only the chief writes, and only after the epoch's last all-reduce,
      when every worker holds the same weights.
    - A backup is the weights (with the optimizer's state) of one finished
      epoch, `epoch-0003.weights.h5`, and `state.json` naming it. Each file
      is written under a temporary name and renamed into place, the state
      last, so the state always names a complete weights file.
    - Every worker restores from the chief's folder, so all resume at the
      same epoch; on a cluster `backup_dir` must be a path every worker
      reads (a shared file system, or GCS).

    Resumption is per epoch: an epoch cut short is trained again from its
    start. The input pipeline starts again too (the next epoch's rows come in
    the first epoch's shuffle order), and early stopping starts counting
    again from the restored epoch.

    Args:
        backup_dir: the folder of backups. Use one per training run.
        delete_on_success: remove the folder when `fit` ends normally.
    """

    def __init__(self, backup_dir, delete_on_success=True):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"Expected a backup folder. Received: backup_dir={backup_dir!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_on_success = delete_on_success
        self.restored_epoch = 0
        self._is_chief = cluster_role().is_chief

    def on_train_begin(self, logs=None):
        state = read_backup_state(self.backup_dir)
        if state is None:
            return
        check_backup_matches(self.backup_dir, self.model)
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.backup_dir, state["weights"]))
        self.restored_epoch = state["epoch"]
        # What keras.callbacks.BackupAndRestore sets: fit() starts at this epoch.
        self.model._initial_epoch = state["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        if not self._is_chief:
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = f"epoch-{epoch + 1:04d}.weights.h5"
        temporary = os.path.join(self.backup_dir, f".{weights}.partial.weights.h5")
        self.model.save_weights(temporary, overwrite=True)
        os.replace(temporary, os.path.join(self.backup_dir, weights))
        _write_json_atomically(
            os.path.join(self.backup_dir, STATE_FILE),
            {"epoch": epoch + 1, "weights": weights, "model": model_fingerprint(self.model)},
        )
        for name in os.listdir(self.backup_dir):
            if name.startswith("epoch-") and name != weights:
                os.remove(os.path.join(self.backup_dir, name))

    def on_train_end(self, logs=None):
        if self.delete_on_success and self._is_chief and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)


def read_backup_state(backup_dir):
    """`{"epoch": finished epochs, "weights": file name}` of the last backup, or `None`."""
    path = os.path.join(backup_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        state = json.load(f)
    if not os.path.exists(os.path.join(backup_dir, state["weights"])):
        raise FileNotFoundError(
            f"{path} names {state['weights']}, which is not in {backup_dir}: the backup folder "
            "was changed by hand or is shared by two runs."
        )
    return state


def model_fingerprint(model):
    """The model's class and the shapes of its weights in order: what a backup must match.

    Weight names are left out: Keras numbers unnamed layers per process, so
    the same model built twice in one process has other names.
    """
    shapes = [list(weight.shape) for weight in model.weights]
    digest = hashlib.sha256(json.dumps(shapes).encode()).hexdigest()[:16]
    return {"class": type(model).__name__, "num_weights": len(shapes), "shapes_sha256": digest}


def check_backup_matches(backup_dir, model):
    """Raises ValueError, before any training, if the backup was written by another model.

    Restoring it would fail inside `fit` with Keras' "N objects could not be
    loaded", or worse, half-load. Backups written before fingerprints were
    recorded are not checked.
    """
    state = read_backup_state(backup_dir)
    if state is None or "model" not in state:
        return
    expected, found = state["model"], model_fingerprint(model)
    if expected != found:
        raise ValueError(
            f"The backup in {backup_dir} (epoch {state['epoch']}) was written by another model: "
            f"{expected['class']} with {expected['num_weights']} weights, where this run builds "
            f"{found['class']} with {found['num_weights']} weights"
            + (" of other shapes" if expected["num_weights"] == found["num_weights"] else "")
            + ". Use another --backup-dir for this run, or delete that folder to start afresh."
        )


def _write_json_atomically(path, payload):
    folder = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".state-", suffix=".json")
    with os.fdopen(handle, "w") as f:
        json.dump(payload, f)
    os.replace(temporary, path)
