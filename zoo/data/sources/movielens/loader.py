"""MovieLens 100K (GroupLens ml-100k): ratings as multi-task labels on (user, movie) pairs.

Reads the files of the GroupLens archive (https://grouplens.org/datasets/movielens/100k/)
as published: `u.data` (`user_id item_id rating timestamp`, tab-separated),
`u.user` (`user_id|age|gender|occupation|zip`) and `u.item` (`movie_id|title|
release_date|video_release_date|IMDb_URL|` then 19 genre flags in the order of
`u.genre`; latin-1). The licence forbids redistribution, so the zoo does not
ship the data: download it and pass its folder (`--data-dir`).

Tasks (`TASKS`), thresholds on the rating: `rating_ge_4` (rating >= 4) and
`rating_5` (rating == 5) by default, and `rated` (the pair was rated at all).
Every rated pair is a row; sampled unrated pairs are rows with every label 0.

Split by time, per user: each user's ratings, in time order (ties by item
id), end with `test_fraction` of them in the test split and the
`validation_fraction` before those in validation (at least one each; a user
with fewer than 3 ratings stays in training). So, per user, training precedes
validation, which precedes test, and every user is in every split, which
GAUC needs (a global time cut would leave most users out of the test split:
ml-100k users arrive and leave over the seven months). Other users' later
ratings may be in training: the split holds each user's future out, not the
world's.

Negatives: `negatives_per_positive` per rated pair of each split, for the same
user, drawn uniformly without replacement from the movies the user never
rated (in any split); a user's negatives are drawn for all splits at once,
so no pair is in two splits (`zoo.data.base.negative_sampling`). A user who rated
more than `1 / (1 + negatives_per_positive)` of the movies runs out of
unrated ones and gets fewer (counted in `settings["split_counts"]`); with one
negative per pair no ml-100k user does. Seeded.

Features (all categorical): `user_id`, `item_id`; user side `age` (the
MovieLens-1M buckets: under 18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+),
`gender`, `occupation`, `zip_prefix` (the first character of the zip code:
the US zone, or the Canadian province letter); item side `release_year` (0
where the date is missing) and the genres: by default one 0/1 feature per
genre (`genre_action`, ...), with `genres="multi_hot"` one `MultiHotFeature`
`genres` holding each movie's genre names as `u.genre` spells them
(`"Action"`, `"Children's"`), padded with `""`. Negatives carry the side
features of their user and movie. Vocabularies come from the training rows.

Behaviour history (`history_length`): `rated_movies`, a `SequenceFeature`
sharing `item_id`'s table, holds the movies the user rated strictly before
the rating's timestamp, newest first (`zoo.data.base.histories`), whatever
the rating. It is built from every rating before the split, so a test row's
history holds the user's training and validation ratings, as a served model
would know them, and never a rating of the same second or later. A sampled
negative has no time of its own: it gets the history of the rating it was
drawn for, so a positive and its negatives differ only by the movie, and the
history says nothing about which is which.
"""

import datetime
import os
import re

import numpy as np

from zoo.data.base.errors import DataError
from zoo.data.base.histories import previous_interactions
from zoo.data.base.negative_sampling import check_negatives_per_positive, sample_negatives
from zoo.data.base.paths import unshipped_data_dir
from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.data.formats.delimited_reader import read_columns
from zoo.features.spec import (
    LIST_PADDING,
    SEQUENCE_POOLINGS,
    CategoricalFeature,
    MultiHotFeature,
    SequenceFeature,
)
from zoo.tasks import Task, parse_task_names

NAME = "movielens-100k"
RATINGS_FILE, USERS_FILE, ITEMS_FILE = "u.data", "u.user", "u.item"
ENCODING = "latin-1"  # as MovieLens writes u.item
DOWNLOAD = (
    "Download ml-100k.zip from https://grouplens.org/datasets/movielens/100k/ and unzip it; "
    "the folder ml-100k/ holds u.data, u.user and u.item."
)
# The order of u.genre, which is the order of u.item's flags.
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
GENRE_FEATURES = tuple(
    "genre_" + re.sub(r"[^a-z]+", "_", genre.lower().replace("'", "")) for genre in GENRES
)
# Task name -> the lowest rating that is a positive.
TASKS = {"rated": 1, "rating_ge_4": 4, "rating_5": 5}
DEFAULT_TASKS = ("rating_ge_4", "rating_5")
# (lowest age, bucket) as in MovieLens-1M's u.users.
AGE_BUCKETS = (
    (0, "under 18"), (18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-49"), (50, "50-55"),
    (56, "56+"),
)  # fmt: skip
MISSING_YEAR = 0
USER_FEATURES = ("user_id", "age", "gender", "occupation", "zip_prefix")
ITEM_FEATURES = ("item_id", "release_year") + GENRE_FEATURES
STRING_FEATURES = ("age", "gender", "occupation", "zip_prefix")
SPLITS = ("train", "validation", "test")
# The list features of `history_length` and `genres="multi_hot"`.
HISTORY_FEATURE = "rated_movies"
GENRES_FEATURE = "genres"
GENRE_ENCODINGS = ("flags", "multi_hot")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _missing_file(path):
    return DataError(
        f"{path}: file not found. The {NAME} folder must hold {RATINGS_FILE}, {USERS_FILE} "
        f"and {ITEMS_FILE}. {DOWNLOAD}"
    )


def _int(value, path, line_number, column, low=None, high=None):
    try:
        number = int(value)
    except ValueError:
        raise DataError(
            f"{path}, line {line_number}: column {column!r} expects an integer, found {value!r}."
        ) from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise DataError(
            f"{path}, line {line_number}: column {column!r} expects {low} to {high}, "
            f"found {number}."
        )
    return number


def _check_unique(ids, lines, path, what):
    """A DataError naming the second line of the first id that repeats."""
    first = {}
    for value, line_number in zip(ids, lines):
        if value in first:
            raise DataError(
                f"{path}, line {line_number}: {what} {value} appears twice "
                f"(first on line {first[value]})."
            )
        first[value] = line_number


def _read_users(path):
    """`(ids, columns)`: sorted user ids and the side features in the same order."""
    ids, lines, columns = [], [], {name: [] for name in STRING_FEATURES}
    starts = [low for low, _ in AGE_BUCKETS]
    fields, line_numbers = read_columns(path, 5, "|", encoding=ENCODING)
    for line_number, user, age, gender, occupation, zip_code in zip(line_numbers, *fields):
        ids.append(_int(user, path, line_number, "user_id", low=1))
        age = _int(age, path, line_number, "age", low=0, high=150)
        if gender not in ("M", "F"):
            raise DataError(
                f"{path}, line {line_number}: column 'gender' expects M or F, found {gender!r}."
            )
        for column, value in (("occupation", occupation), ("zip", zip_code)):
            if not value.strip():
                raise DataError(f"{path}, line {line_number}: column {column!r} is empty.")
        lines.append(line_number)
        columns["age"].append(AGE_BUCKETS[int(np.searchsorted(starts, age, "right")) - 1][1])
        columns["gender"].append(gender)
        columns["occupation"].append(occupation)
        columns["zip_prefix"].append(zip_code.strip()[:1].upper())
    _check_unique(ids, lines, path, "user_id")
    order = np.argsort(ids)
    return np.asarray(ids)[order], {
        name: np.asarray(values, dtype=object)[order] for name, values in columns.items()
    }


def _release_year(value, path, line_number):
    """The year of a `DD-Mon-YYYY` date (`01-Jan-1995`), or `MISSING_YEAR` for an empty field."""
    if not value:
        return MISSING_YEAR
    match = re.fullmatch(r"(\d{1,2})-([A-Z][a-z]{2})-(\d{4})", value)
    try:
        if not match:
            raise ValueError(value)
        day, month, year = match.groups()
        datetime.date(int(year), MONTHS.index(month) + 1, int(day))
    except ValueError:
        raise DataError(
            f"{path}, line {line_number}: column 'release_date' expects DD-Mon-YYYY "
            f"(e.g. 01-Jan-1995) or nothing, found {value!r}."
        ) from None
    return int(year)


def _read_items(path):
    """`(ids, columns)`: sorted movie ids and the side features in the same order."""
    ids, lines, years, genres = [], [], [], []
    text_columns, line_numbers = read_columns(path, 5 + len(GENRES), "|", encoding=ENCODING)
    for line_number, *fields in zip(line_numbers, *text_columns):
        ids.append(_int(fields[0], path, line_number, "movie_id", low=1))
        lines.append(line_number)
        years.append(_release_year(fields[2], path, line_number))
        genres.append(
            [
                _int(flag, path, line_number, f"genre {genre!r}", low=0, high=1)
                for flag, genre in zip(fields[5:], GENRES)
            ]
        )
    _check_unique(ids, lines, path, "movie_id")
    order = np.argsort(ids)
    columns = {"release_year": np.asarray(years, np.int64)[order]}
    genres = np.asarray(genres, np.int64)[order]
    columns.update({name: genres[:, k] for k, name in enumerate(GENRE_FEATURES)})
    return np.asarray(ids)[order], columns


def _read_ratings(path, user_ids, item_ids):
    """`(users, items, ratings, timestamps)` int64 arrays, every id checked against the tables."""
    fields, line_numbers = read_columns(path, 4, "\t", encoding=ENCODING)
    columns = ("user_id", "item_id", "rating", "timestamp")
    try:
        values = np.asarray(fields).astype(np.int64)
    except (ValueError, OverflowError):
        for line_number, *row in zip(line_numbers, *fields):  # find the first bad value
            for value, column in zip(row, columns):
                _int(value, path, line_number, column)
        raise
    lines = np.asarray(line_numbers)
    users, items, ratings, timestamps = values
    checks = (
        ((ratings < 1) | (ratings > 5), "column 'rating' expects 1 to 5, found {rating}"),
        (~np.isin(users, user_ids), f"user_id {{user}} is not in {USERS_FILE}"),
        (~np.isin(items, item_ids), f"item_id {{item}} is not in {ITEMS_FILE}"),
    )
    for bad, message in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            found = message.format(rating=ratings[row], user=users[row], item=items[row])
            raise DataError(f"{path}, line {lines[row]}: {found}.")
    keys = users * (int(items.max()) + 1) + items
    order = np.argsort(keys, kind="stable")
    repeated = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if len(repeated):
        first, second = order[repeated[0]], order[repeated[0] + 1]
        raise DataError(
            f"{path}, line {lines[second]}: user {users[second]} rated item {items[second]} "
            f"before (line {lines[first]}); expected one rating per pair."
        )
    return users, items, ratings, timestamps


def _genre_lists(item_columns):
    """`(num_movies, longest)` object array: each movie's genre names in `GENRES` order, then ""."""
    flags = np.stack([item_columns[name] for name in GENRE_FEATURES], axis=1).astype(bool)
    longest = max(int(flags.sum(axis=1).max()), 1)
    flagged_first = np.argsort(~flags, axis=1, kind="stable")[:, :longest]
    lists = np.asarray(GENRES, dtype=object)[flagged_first]
    lists[~np.take_along_axis(flags, flagged_first, axis=1)] = LIST_PADDING["string"]
    return lists


def _check_list_options(history_length, history_pooling, genres):
    if history_length is not None and (
        isinstance(history_length, bool)
        or not isinstance(history_length, (int, np.integer))
        or history_length < 1
    ):
        raise ValueError(
            f"Expected history_length >= 1 or None. Received: history_length={history_length!r}"
        )
    if history_pooling not in SEQUENCE_POOLINGS:
        raise ValueError(
            f"Expected history_pooling in {SEQUENCE_POOLINGS}. "
            f"Received: history_pooling={history_pooling!r}"
        )
    if genres not in GENRE_ENCODINGS:
        raise ValueError(f"Expected genres in {GENRE_ENCODINGS}. Received: genres={genres!r}")


def _split_by_time(users, timestamps, items, validation_fraction, test_fraction):
    """Split index of every rating: 0 train, 1 validation, 2 test (see the module docstring)."""
    order = np.lexsort((items, timestamps, users))  # by user, then time, then item
    sorted_users = users[order]
    start = np.searchsorted(sorted_users, sorted_users)
    count = np.bincount(users)[sorted_users]
    from_end = start + count - 1 - np.arange(len(order))  # 0 for a user's last rating
    num_test = np.maximum(1, np.floor(test_fraction * count + 0.5)).astype(np.int64)
    num_validation = np.maximum(1, np.floor(validation_fraction * count + 0.5)).astype(np.int64)
    num_validation = np.minimum(num_validation, count - num_test - 1)
    split = np.zeros(len(order), np.int64)
    split[from_end < num_test + num_validation] = 1
    split[from_end < num_test] = 2
    split[count < 3] = 0
    out = np.empty_like(split)
    out[order] = split
    return out


def load_movielens_100k(
    data_dir=None,
    tasks=DEFAULT_TASKS,
    negatives_per_positive=1,
    validation_fraction=0.1,
    test_fraction=0.1,
    seed=2024,
    embedding_dim=16,
    history_length=None,
    history_pooling="mean",
    genres="flags",
):
    """Loads MovieLens 100K as a `TabularDataset` of (user, movie) pairs, split by time per user.

    Args:
        data_dir: the `ml-100k` folder (`u.data`, `u.user`, `u.item`);
            defaults to `$ZOO_DATA_DIR/movielens-100k` (nothing is shipped).
        tasks: task names from `TASKS`, in output order: a sequence or a
            comma-separated string.
        negatives_per_positive: sampled unrated pairs (every label 0) per
            rated pair, in every split.
        validation_fraction: the share of each user's ratings, just before
            its test ratings, held out for validation.
        test_fraction: the share of each user's last ratings held out for test.
        seed: seeds the negatives.
        embedding_dim: embedding width of every feature.
        history_length: `None`, or add the `SequenceFeature`
            `"rated_movies"` of this `max_len`: per row, an int64
            `(rows, history_length)` column of the movies the user rated
            strictly before, newest first, padded with -1 (see the module
            docstring).
        history_pooling: the history's `pooling`: `"mean"`, `"sum"`,
            `"max"`, `"attention"` (DIN, the candidate `item_id` weighting
            each past movie) or `"transformer"` (BST).
        genres: `"flags"`, one 0/1 feature per genre, or `"multi_hot"`,
            one `MultiHotFeature` `"genres"` (mean-pooled) whose column
            holds each movie's genre names, as many as the most any movie
            has (6 in ml-100k), padded with `""`.

    Returns:
        A `TabularDataset` named `"movielens-100k"`, `user_feature="user_id"`
        (GAUC), and `settings` recording the arguments, each split's rated
        pairs, negatives and time range, and which categorical features
        describe the user (`user_features`) and the movie (`item_features`;
        the graph models' node features, so no list feature is among them).

    Raises:
        ValueError: an unknown task or an argument out of range.
        DataError: no data folder, a missing file, or a malformed line (the
            message names the file and line).

    Example:
    ```python
    dataset = load_movielens_100k("path/to/ml-100k", negatives_per_positive=4)
    dataset.train.features["genre_comedy"][:3]  # e.g. [1, 0, 0]
    ```
    """
    names = parse_task_names(tasks, TASKS)
    check_negatives_per_positive(negatives_per_positive)
    _check_list_options(history_length, history_pooling, genres)
    for name, value in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if not isinstance(value, (int, float, np.number)) or not 0 < value < 0.5:
            raise ValueError(f"Expected 0 < {name} < 0.5. Received: {name}={value!r}")
    data_dir = unshipped_data_dir(data_dir, NAME, "its licence forbids redistribution", DOWNLOAD)
    paths = {name: os.path.join(data_dir, name) for name in (RATINGS_FILE, USERS_FILE, ITEMS_FILE)}
    for path in paths.values():
        if not os.path.exists(path):
            raise _missing_file(path)
    user_ids, user_columns = _read_users(paths[USERS_FILE])
    item_ids, item_columns = _read_items(paths[ITEMS_FILE])
    item_features = ITEM_FEATURES
    if genres == "multi_hot":
        item_columns = {
            "release_year": item_columns["release_year"],
            GENRES_FEATURE: _genre_lists(item_columns),
        }
        item_features = ("item_id", "release_year", GENRES_FEATURE)
    users, items, ratings, timestamps = _read_ratings(paths[RATINGS_FILE], user_ids, item_ids)
    row_features = USER_FEATURES + item_features
    if history_length is not None:
        # Over every rating, before the split (see the module docstring).
        histories = previous_interactions(users, timestamps, items, history_length)
        row_features += (HISTORY_FEATURE,)
    split_of = _split_by_time(users, timestamps, items, validation_fraction, test_fraction)
    empty = [name for k, name in enumerate(SPLITS) if not (split_of == k).any()]
    if empty:
        raise DataError(
            f"{paths[RATINGS_FILE]}: the {empty[0]} split has no ratings; each split takes "
            "ratings only from users with 3 or more."
        )

    # Negatives are drawn over item positions 0..num_items-1 of the movie table.
    num_items = len(item_ids)
    user_position = np.searchsorted(user_ids, users)
    item_position = np.searchsorted(item_ids, items)
    slots = {
        name: np.repeat(user_position[split_of == k], negatives_per_positive)
        for k, name in enumerate(SPLITS)
    }
    drawn = sample_negatives(
        np.concatenate([slots[name] for name in SPLITS]),
        user_position,
        item_position,
        num_items,
        np.random.default_rng(seed),
    )
    bounds = np.cumsum([0] + [len(slots[name]) for name in SPLITS])

    splits, counts, time_ranges = {}, {}, {}
    for k, name in enumerate(SPLITS):
        rated = split_of == k
        negative_items = drawn[bounds[k] : bounds[k + 1]]
        found = negative_items >= 0
        rated_rows = np.flatnonzero(rated)
        # The rating each row is or was drawn for: slot j of the split's
        # negatives repeats its j // negatives_per_positive-th rating.
        row_ratings_index = np.concatenate(
            [rated_rows, rated_rows[np.flatnonzero(found) // negatives_per_positive]]
        )
        row_users = np.concatenate([user_position[rated], slots[name][found]])
        row_items = np.concatenate([item_position[rated], negative_items[found]])
        row_ratings = np.concatenate([ratings[rated], np.zeros(int(found.sum()), np.int64)])
        order = np.lexsort((row_items, row_users))  # rows by user, then movie
        row_users, row_items, row_ratings = row_users[order], row_items[order], row_ratings[order]
        features = {"user_id": user_ids[row_users], "item_id": item_ids[row_items]}
        features.update({n: v[row_users] for n, v in user_columns.items()})
        features.update({n: v[row_items] for n, v in item_columns.items()})
        if history_length is not None:
            features[HISTORY_FEATURE] = histories[row_ratings_index[order]]
        splits[name] = Split(
            features={n: features[n] for n in row_features},
            labels={t: (row_ratings >= TASKS[t]).astype("float32") for t in names},
        )
        counts[name] = {
            "positives": int(rated.sum()),
            "negatives": int(found.sum()),
            "negatives_short": int((~found).sum()),
        }
        time_ranges[name] = [
            datetime.datetime.fromtimestamp(int(t), datetime.UTC).isoformat()
            for t in (timestamps[rated].min(), timestamps[rated].max())
        ]

    shares = ", ".join(f"{t} {splits['train'].labels[t].mean():.1%}" for t in names)
    summary = (
        "; ".join(
            f"{name} {len(splits[name]):,} rows ({counts[name]['positives']:,} ratings + "
            f"{counts[name]['negatives']:,} sampled unrated)"
            for name in SPLITS
        )
        + f". Training rows: {shares}. Split by time per user."
    )
    short = sum(c["negatives_short"] for c in counts.values())
    if short:
        summary += (
            f" {short:,} negatives short: users who rated nearly every movie have too few "
            "unrated ones."
        )

    def feature(name):
        if name == GENRES_FEATURE:
            return MultiHotFeature(
                name,
                dtype="string",
                embedding_dim=embedding_dim,
                max_len=int(item_columns[name].shape[1]),
                pooling="mean",
            )
        return CategoricalFeature(
            name,
            dtype="string" if name in STRING_FEATURES else "int64",
            embedding_dim=embedding_dim,
        )

    features = [feature(name) for name in USER_FEATURES + item_features]
    if history_length is not None:
        features.append(
            SequenceFeature(
                HISTORY_FEATURE,
                max_len=int(history_length),
                pooling=history_pooling,
                shares_table_with="item_id",
                dtype="int64",
                embedding_dim=embedding_dim,
            )
        )
    return TabularDataset(
        name=NAME,
        features=features,
        tasks=[Task(t) for t in names],
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        settings={
            "dataset": NAME,
            "data_dir": os.path.abspath(data_dir),
            "tasks": names,
            "negatives_per_positive": int(negatives_per_positive),
            "validation_fraction": float(validation_fraction),
            "test_fraction": float(test_fraction),
            "seed": int(seed),
            "embedding_dim": int(embedding_dim),
            "history_length": None if history_length is None else int(history_length),
            "history_pooling": history_pooling,
            "genres": genres,
            "num_users": int(len(user_ids)),
            "num_items": int(num_items),
            "num_ratings": int(len(ratings)),
            "split_counts": counts,
            "time_ranges": time_ranges,
            "user_features": list(USER_FEATURES),
            "item_features": [name for name in item_features if name != GENRES_FEATURE],
        },
        summary=summary,
        user_feature="user_id",
    )
