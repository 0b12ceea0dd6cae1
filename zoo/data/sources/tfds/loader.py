"""Datasets prepared with TensorFlow Datasets, read back as the zoo's `TabularDataset`s.

The builders in `datasets/tfds/<name>/` (`tfds build`) turn each dataset the
zoo reads into TFDS records, with the zoo loaders' own parsers and splits;
`load_tfds` reads a prepared one and returns the `TabularDataset` the zoo
loader of that dataset would (same features, specs, tasks, rows and row
order), so a model trained on either is the same model. The record layout
is described in `zoo.data.sources.tfds.records`.

TensorFlow Datasets is imported inside the functions: importing `zoo.data`
does not load it.
"""

import inspect
import os

import numpy as np

from zoo.data.base.errors import DataError
from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.data.sources.ali_ccp import loader as ali_ccp
from zoo.data.sources.aliexpress import loader as aliexpress
from zoo.data.sources.census_income import schema as census_income
from zoo.data.sources.kuairand import schema as kuairand
from zoo.data.sources.movielens import loader as movielens
from zoo.data.sources.taobao_multibehavior import loader as taobao_multibehavior
from zoo.data.sources.tfds.records import COLUMN_GROUPS, is_tfrecord, record_spec, split_paths
from zoo.features.spec import CategoricalFeature, NumericFeature
from zoo.tasks import Task, parse_task_names

SPLITS = ("train", "validation", "test")
# Rows per batch when a split is read back.
READ_BATCH_SIZE = 8192


def _census_income(schema, task_group=1, protocol="paper", embedding_dim=4):
    task_group = int(task_group)
    columns = census_income.feature_columns(task_group, protocol)
    continuous = dict(census_income.COLUMNS)
    features = [
        NumericFeature(name)
        if continuous[name]
        else CategoricalFeature(name, embedding_dim=embedding_dim)
        for name in columns
    ]
    tasks = [Task(name) for name in census_income.TASK_GROUPS[task_group]]
    options = {"task_group": task_group, "protocol": protocol, "embedding_dim": embedding_dim}
    return features, tasks, None, options


def _kuairand(schema, tasks=kuairand.DEFAULT_TASKS, embedding_dim=8):
    stored = set(schema["ints"]) | set(schema["strings"])
    features = [
        CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim)
        for name in kuairand.LOG_FEATURES
    ] + [
        CategoricalFeature(
            name,
            dtype="string" if name in kuairand.STRING_USER_FEATURES else "int64",
            embedding_dim=embedding_dim,
        )
        for name in kuairand.USER_COLUMNS
        if name in stored and name not in kuairand.LOG_FEATURES  # user_id comes first
    ]
    task_list = [
        Task(name, "regression" if name in kuairand.REGRESSION_TASKS else "binary")
        for name in parse_task_names(tasks, kuairand.TASKS)
    ]
    options = {"tasks": [t.name for t in task_list], "embedding_dim": embedding_dim}
    return features, task_list, "user_id", options


def _movielens_100k(schema, tasks=movielens.DEFAULT_TASKS, embedding_dim=16):
    names = parse_task_names(tasks, movielens.TASKS)
    features = [
        CategoricalFeature(
            name,
            dtype="string" if name in movielens.STRING_FEATURES else "int64",
            embedding_dim=embedding_dim,
        )
        for name in movielens.USER_FEATURES + movielens.ITEM_FEATURES
    ]
    options = {"tasks": names, "embedding_dim": embedding_dim}
    return features, [Task(name) for name in names], "user_id", options


def _taobao_multibehavior(schema, embedding_dim=16):
    features = [
        CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim)
        for name in taobao_multibehavior.FEATURES
    ]
    tasks = [Task(name) for name in taobao_multibehavior.TASKS]
    return features, tasks, "user_id", {"embedding_dim": embedding_dim}


def _ali_ccp(schema, embedding_dim=16, max_tokens=None):
    features = [
        CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim, max_tokens=max_tokens)
        for name in ali_ccp.SPARSE_FEATURES
    ] + [NumericFeature(name) for name in ali_ccp.DENSE_COLUMNS]
    tasks = [Task(name) for name in ali_ccp.LABEL_COLUMNS]
    return features, tasks, None, {"embedding_dim": embedding_dim, "max_tokens": max_tokens}


def _aliexpress(schema, embedding_dim=16, max_tokens=None):
    features = [
        CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim, max_tokens=max_tokens)
        for name in aliexpress.CATEGORICAL_COLUMNS
    ] + [NumericFeature(name) for name in aliexpress.NUMERICAL_COLUMNS]
    tasks = [Task(name) for name in aliexpress.LABEL_COLUMNS]
    return features, tasks, None, {"embedding_dim": embedding_dim, "max_tokens": max_tokens}


# Zoo dataset name -> `spec(schema, **options)`: the zoo loader's features, tasks,
# user feature and the options as applied, for the loader options that do not
# change the rows (those that do were fixed when the TFDS dataset was built).
SPECS = {
    census_income.NAME: _census_income,
    kuairand.NAME: _kuairand,
    movielens.NAME: _movielens_100k,
    taobao_multibehavior.NAME: _taobao_multibehavior,
    ali_ccp.NAME: _ali_ccp,
    aliexpress.NAME: _aliexpress,
}


def _read_split(builder, split, schema):
    """A split's columns, labels and label masks as 1-D numpy arrays."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if is_tfrecord(builder):
        # Parsed a batch of records at a time: `as_dataset` parses record by
        # record, 10 times slower (7 s for Census-Income's training split).
        spec = record_spec(builder)
        records = tf.data.TFRecordDataset(split_paths(builder, split)).batch(READ_BATCH_SIZE)
        batches = records.map(lambda serialized: tf.io.parse_example(serialized, spec))
    else:
        batches = builder.as_dataset(split=split, batch_size=READ_BATCH_SIZE)
    parts = {}
    for batch in tfds.as_numpy(batches):
        for key, values in batch.items():
            parts.setdefault(key, []).append(values)
    if not parts:
        raise DataError(f"{builder.data_dir}: the {split} split has no rows.")
    vectors = {key: np.concatenate(values) for key, values in parts.items()}
    columns = {}
    for key in COLUMN_GROUPS:
        for position, name in enumerate(schema[key]):
            values = vectors[key][:, position]
            if key == "strings":
                # Decode each distinct value once; the zoo's string columns hold str.
                unique, inverse = np.unique(values.astype(bytes), return_inverse=True)
                decoded = np.array([v.decode("utf-8") for v in unique.tolist()], object)
                values = decoded[inverse.reshape(-1)]
            columns[name] = values
    labels = {task: vectors["labels"][:, k] for k, task in enumerate(schema["labels"])}
    masks = {
        task: vectors["label_present"][:, k].astype(bool) for k, task in enumerate(schema["masked"])
    }
    return columns, labels, masks


def load_tfds(
    tfds_name=None,
    data_dir=None,
    task_group=None,
    protocol=None,
    tasks=None,
    embedding_dim=None,
    max_tokens=None,
    streaming=False,
    shuffle_buffer=100_000,
):
    """Loads a dataset prepared by a builder of `datasets/tfds/` as the zoo loader's dataset.

    Args:
        tfds_name: the TFDS name (`"census_income"`, `"kuairand"`, `"ali_ccp"`,
            `"aliexpress"`, `"movielens_100k"`, `"taobao_multibehavior"`),
            optionally `name:version`; the zoo name (`"census-income"`) works too.
        data_dir: the TFDS data folder it was built into (`tfds build
            --data_dir`); defaults to TFDS' own (`$TFDS_DATA_DIR` or
            `~/tensorflow_datasets`).
        task_group, protocol: census-income, as in `load_census_income`.
        tasks: kuairand and movielens-100k, as in their loaders.
        embedding_dim: embedding width of every categorical feature; each
            dataset's loader default when `None`.
        max_tokens: ali-ccp and aliexpress, as in their loaders.
        streaming: read the records on every pass instead of into memory
            (`zoo.data.sources.tfds.streaming.StreamingTFDS`): the same rows, in the
            same order, for prepared datasets bigger than memory.
        shuffle_buffer: with `streaming`, the training records held by the
            row shuffle.

    Options left `None` take the zoo loader's default; one the dataset's
    loader does not take is an error. The rows and splits are those fixed
    when the dataset was built (`settings["built_with"]`).

    Returns:
        A `TabularDataset` with the name, features, tasks, splits, rows, row
        order and `user_feature` the zoo loader gives on the same files (a
        `StreamingTFDS` with `streaming`).

    Raises:
        ValueError: no name, an unknown dataset, or an option it does not take.
        DataError: the dataset was not built, or not by a zoo builder.

    Example:
    ```python
    # after: cd datasets/tfds/census_income && tfds build --data_dir ~/tfds
    dataset = load_tfds("census_income", data_dir="~/tfds", task_group=2)
    ```
    """
    import tensorflow_datasets as tfds

    if not tfds_name:
        raise ValueError(
            "Expected the name of a prepared TFDS dataset (--tfds-name), one of: "
            + ", ".join(n.replace("-", "_") for n in SPECS)
            + f". Received: tfds_name={tfds_name!r}"
        )
    tfds_name = tfds_name.replace("-", "_")
    if data_dir is not None:
        data_dir = os.path.abspath(os.path.expanduser(data_dir))
    try:
        builder = tfds.core.read_only_builder.builder_from_files(tfds_name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise DataError(
            f"{error} Build it first: cd datasets/tfds/{tfds_name.split(':')[0]} && "
            f"tfds build --data_dir {data_dir or '<TFDS data dir>'} (see datasets/tfds/README.md)."
        ) from None
    schema = dict(builder.info.metadata or {})
    spec = SPECS.get(schema.get("zoo_dataset"))
    if spec is None:
        raise DataError(
            f"{builder.data_dir}: not a dataset built by the zoo's builders (its metadata names "
            f"no zoo dataset of {', '.join(SPECS)})."
        )
    given = {
        "task_group": task_group,
        "protocol": protocol,
        "tasks": tasks,
        "embedding_dim": embedding_dim,
        "max_tokens": max_tokens,
    }
    given = {option: value for option, value in given.items() if value is not None}
    accepted = set(inspect.signature(spec).parameters) - {"schema"}
    unknown = sorted(set(given) - accepted)
    if unknown:
        raise ValueError(
            f"TFDS dataset {tfds_name!r} ({schema['zoo_dataset']}) takes the options "
            f"{sorted(accepted)}. Received: {unknown}"
        )
    features, task_list, user_feature, options = spec(schema, **given)
    settings = {
        "dataset": "tfds",
        "tfds_name": tfds_name,
        "data_dir": data_dir,
        **options,
        "tfds_version": str(builder.info.version),
        "tfds_dir": os.fspath(builder.data_dir),
        "built_with": schema["settings"],
    }
    if streaming:
        from zoo.data.sources.tfds.streaming import StreamingTFDS

        return StreamingTFDS(
            builder,
            schema,
            features,
            task_list,
            user_feature,
            {**settings, "streaming": True, "shuffle_buffer": shuffle_buffer},
            shuffle_buffer=shuffle_buffer,
        )

    read = {split: _read_split(builder, split, schema) for split in SPLITS}
    # A task that may be masked but has every label (KuaiRand's `like` in the
    # like/hate subset) has no mask, as in the zoo loader.
    masked = [
        t.name
        for t in task_list
        if t.name in schema["masked"] and not all(read[s][2][t.name].all() for s in SPLITS)
    ]
    splits = {
        split: Split(
            features={f.name: columns[f.name] for f in features},
            labels={t.name: labels[t.name] for t in task_list},
            label_masks={task: masks[task] for task in masked},
        )
        for split, (columns, labels, masks) in read.items()
    }
    rows = ", ".join(f"{split} {len(splits[split]):,} rows" for split in SPLITS)
    return TabularDataset(
        name=schema["zoo_dataset"],
        features=features,
        tasks=task_list,
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        settings=settings,
        summary=f"{rows}, read from the TFDS dataset in {builder.data_dir}.",
        user_feature=user_feature,
    )
