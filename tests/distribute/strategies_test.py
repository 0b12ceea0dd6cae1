import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.distribute import ClusterBackupAndRestore, cluster_role, make_strategy, replica_share
from zoo.distribute.backup import model_fingerprint, read_backup_state
from zoo.training.trainer import shard_by_worker


def _config(task, cluster=None):
    cluster = cluster or {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    return json.dumps({"cluster": cluster, "task": task})


def test_cluster_role_outside_a_cluster_is_a_lone_chief():
    role = cluster_role("")
    assert (role.task_type, role.num_workers, role.is_chief) == (None, 1, True)


def test_worker_zero_is_chief_unless_the_cluster_has_a_chief_job():
    assert cluster_role(_config({"type": "worker", "index": 0})).is_chief
    assert not cluster_role(_config({"type": "worker", "index": 1})).is_chief
    with_chief = {"chief": ["127.0.0.1:0"], "worker": ["127.0.0.1:1"]}
    assert cluster_role(_config({"type": "chief", "index": 0}, with_chief)).is_chief
    role = cluster_role(_config({"type": "worker", "index": 0}, with_chief))
    assert (role.is_chief, role.num_workers) == (False, 2)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"task": {"type": "worker", "index": 0}}), "no 'cluster'"),
        (_config({"type": "worker", "index": 2}), "index 2 is out of range"),
        (_config({"type": "ps", "index": 0}), "must name a job"),
        (_config({"type": "ps", "index": 0}, {"ps": ["a:1"], "worker": ["b:1"]}), "'ps'"),
    ],
)
def test_a_malformed_tf_config_is_quoted_in_the_error(text, message):
    with pytest.raises(ValueError, match=message):
        cluster_role(text)


def test_make_strategy_names():
    assert make_strategy("default") is tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="Valid strategies: default, mirrored, multi-worker"):
        make_strategy("horovod")


def test_replica_share_is_the_loss_itself_with_one_replica():
    loss = tf.constant(3.0)
    assert replica_share(loss) is loss


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_backups_name_complete_weights_and_a_restart_resumes(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    model = _model()
    backup = ClusterBackupAndRestore(tmp_path, delete_on_success=False)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[backup])
    state = read_backup_state(tmp_path)
    assert (state["epoch"], state["weights"]) == (3, "epoch-0003.weights.h5")
    assert state["model"] == model_fingerprint(model)
    # One backup kept, no partial files left.
    assert sorted(os.listdir(tmp_path)) == ["epoch-0003.weights.h5", "state.json"]

    restarted = _model()
    restarted.build((None, 3))
    history = restarted.fit(
        x, y, epochs=5, verbose=0, callbacks=[ClusterBackupAndRestore(tmp_path)]
    )
    assert len(history.history["loss"]) == 2  # epochs 4 and 5 only
    assert not tmp_path.exists()  # deleted after a normal end


def test_only_the_chief_writes_backups(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _config({"type": "worker", "index": 1}))
    model = _model()
    backup = ClusterBackupAndRestore(tmp_path / "backup")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=2, verbose=0, callbacks=[backup])
    assert not (tmp_path / "backup").exists()


def test_a_state_naming_missing_weights_is_refused(tmp_path):
    (tmp_path / "state.json").write_text(
        json.dumps({"epoch": 2, "weights": "epoch-0002.weights.h5"})
    )
    with pytest.raises(FileNotFoundError, match="names epoch-0002.weights.h5"):
        read_backup_state(tmp_path)


class _Files:
    def __init__(self, count):
        self.count = count

    def shard_files(self, split):
        return [f"{split}-{i}" for i in range(self.count)]


@pytest.mark.parametrize(
    "dataset, expected",
    [
        (_Files(4), tf.data.experimental.AutoShardPolicy.FILE),
        (_Files(2), tf.data.experimental.AutoShardPolicy.FILE),
        (_Files(1), tf.data.experimental.AutoShardPolicy.DATA),
        (object(), tf.data.experimental.AutoShardPolicy.DATA),  # in memory: no files
    ],
)
def test_the_shard_policy_is_by_file_only_with_a_file_per_worker(dataset, expected, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _config({"type": "worker", "index": 0}))
    data = shard_by_worker(tf.data.Dataset.range(4), dataset, "train")
    assert data.options().experimental_distribute.auto_shard_policy == expected
