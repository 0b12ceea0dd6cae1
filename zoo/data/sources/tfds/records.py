"""The record layout of the datasets that the builders of `datasets/tfds/` write.

The builders write it (`column_schema`, `dataset_info`, `packed_examples`);
`loader.load_tfds` and `streaming.StreamingTFDS` read it back (`record_spec`,
`split_paths`). It imports neither reader.

Record layout. TFDS encodes and serializes every feature of every example
in Python, about 10 us a cell: one named scalar per column costs 90 s for
Census-Income's 300k rows of 41 columns, which is most of `tfds build`. So
the columns of a row are packed into one vector per type, and their names
are the dataset's metadata (`builder.info.metadata`), which is 6 times faster:

- `strings`: string categorical columns (`tf.string`, shape `(n,)`),
- `ints`: integer categorical columns (`int64`),
- `floats`: numeric columns (`float32`),
- `labels`: one label per task (`float32`),
- `label_present`: `bool` per task in `metadata["masked"]`, where some rows
  have no label (KuaiRand's `like` and `pcr`); absent if no task is masked.

`metadata` names the columns of each vector in order, the zoo dataset
(`zoo_dataset`) and the loader arguments that fixed the rows and splits
(`settings`). Examples are written in row order (`disable_shuffling`), so
reading a split back gives the zoo loader's rows in its order.

TensorFlow Datasets is imported inside the functions: importing `zoo.data`
does not load it.
"""

import os

import numpy as np

# Record key -> numpy dtype of the columns packed into it.
COLUMN_GROUPS = {"strings": object, "ints": np.int64, "floats": np.float32}


def column_schema(zoo_dataset, strings=(), ints=(), floats=(), labels=(), masked=(), settings=None):
    """The record layout of a dataset, stored as its TFDS metadata.

    Args:
        zoo_dataset: the zoo's name of the dataset (`"census-income"`).
        strings, ints, floats: column names packed into each vector, in order.
        labels: task names, in the order of the `labels` vector.
        masked: tasks whose label may be missing on a row (`label_present`).
        settings: the loader arguments that fixed the rows and the splits.
    """
    return {
        "zoo_dataset": zoo_dataset,
        "strings": list(strings),
        "ints": list(ints),
        "floats": list(floats),
        "labels": list(labels),
        "masked": list(masked),
        "settings": dict(settings or {}),
    }


def dataset_info(builder, schema, description, citation, homepage):
    """The `tfds.core.DatasetInfo` of a zoo builder: packed features, metadata, row order kept."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    dtypes = {"strings": tf.string, "ints": np.int64, "floats": np.float32}
    features = {
        key: tfds.features.Tensor(shape=(len(schema[key]),), dtype=dtypes[key])
        for key in COLUMN_GROUPS
        if schema[key]
    }
    features["labels"] = tfds.features.Tensor(shape=(len(schema["labels"]),), dtype=np.float32)
    if schema["masked"]:
        features["label_present"] = tfds.features.Tensor(
            shape=(len(schema["masked"]),), dtype=np.bool_
        )
    return builder.dataset_info_from_configs(
        description=description,
        features=tfds.features.FeaturesDict(features),
        homepage=homepage,
        citation=citation,
        metadata=tfds.core.MetadataDict(schema),
        # Keys are row numbers: the records keep the zoo loader's row order.
        disable_shuffling=True,
    )


def packed_examples(chunks, schema):
    """`(key, example)` pairs for a TFDS builder, from a split's rows in chunks.

    Args:
        chunks: iterable of `(features, labels, label_masks)`, dicts of 1-D
            numpy arrays (a `Split`'s, or a batch of a streamed split).
        schema: the `column_schema` of the dataset.

    Yields:
        `(row_number, example)`, row numbers counted from 0 over all chunks.
    """
    start = 0
    for features, labels, masks in chunks:
        num_rows = len(labels[schema["labels"][0]])
        vectors = {}
        for key, dtype in COLUMN_GROUPS.items():
            if not schema[key]:
                continue
            if dtype is object:
                # One str -> bytes per distinct value, not per cell.
                columns = []
                for name in schema[key]:
                    values, inverse = np.unique(
                        np.asarray(features[name], str), return_inverse=True
                    )
                    encoded = np.array([v.encode("utf-8") for v in values.tolist()], object)
                    columns.append(encoded[inverse.reshape(-1)])
            else:
                columns = [np.asarray(features[name], dtype) for name in schema[key]]
            vectors[key] = np.stack(columns, axis=1)
        vectors["labels"] = np.stack(
            [np.asarray(labels[task], np.float32) for task in schema["labels"]], axis=1
        )
        if schema["masked"]:
            vectors["label_present"] = np.stack(
                [
                    np.asarray(masks[task], bool) if task in masks else np.ones(num_rows, bool)
                    for task in schema["masked"]
                ],
                axis=1,
            )
        for row in range(num_rows):
            yield start + row, {key: values[row] for key, values in vectors.items()}
        start += num_rows


def split_chunks(split):
    """A `Split` as the one chunk `packed_examples` takes."""
    return [(split.features, split.labels, split.label_masks)]


def is_tfrecord(builder):
    """Whether a prepared dataset is stored as TFRecord files (the TFDS default)."""
    import tensorflow_datasets as tfds

    return builder.info.file_format == tfds.core.FileFormat.TFRECORD


def record_spec(builder):
    """The `tf.io.parse_example` spec of a prepared dataset's records."""
    import tensorflow as tf

    # tf.train.Example stores bools as int64.
    return {
        key: tf.io.FixedLenFeature(
            info.shape, tf.int64 if info.tf_dtype == tf.bool else info.tf_dtype
        )
        for key, info in builder.info.features.get_serialized_info().items()
    }


def split_paths(builder, split):
    """The record files of a split, in row order."""
    return [os.fspath(builder.data_path / name) for name in builder.info.splits[split].filenames]
