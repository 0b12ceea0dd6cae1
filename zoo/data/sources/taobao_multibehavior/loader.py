"""Taobao multi-behaviour graph (EHCF/GHCF preprocessing of Taobao UserBehavior): cart and buy.

Reads the files as the GHCF authors publish them (github.com/chenchongthu/GHCF,
`Data/Taobao/`): `train.txt` (purchases, training part), `test.txt` (one
held-out purchase per user) and `cart.txt` (add-to-cart), each an adjacency
list, one user per line: `user_id item_id item_id ...`, separated by spaces,
dense 0-based ids shared by the three files. `pv.txt` and `sparsity.split`
are not read. The data has no licence that allows redistribution, so the zoo
does not ship it: download it and pass its folder (`--data-dir`).

Rows are (user, item) pairs with two labels, `cart` and `buy`:
- training pairs: every pair of `cart.txt` or `train.txt` (`cart` = the
  pair is in `cart.txt`, `buy` = it is in `train.txt`), except the test
  pairs: a held-out purchase that was also carted (8,326 of them) is a test
  row only, never a training row with `buy` 0;
- validation: `validation_fraction` of the training pairs, drawn uniformly
  over all pairs (not per user) by a seeded permutation; a user may thus
  have all of its pairs in one split;
- test: the pairs of `test.txt` (`buy` 1, `cart` from `cart.txt`).

Each split then gets `negatives_per_positive` sampled negatives per pair,
labels (0, 0), for the same user: items drawn uniformly, without
replacement, from the items the user never interacted with in any of the
three files (`zoo.data.base.negative_sampling`). A user's negatives are drawn for
all splits at once, so no pair is in two splits. The draw is seeded, and the
validation choice and the negatives use separate streams of the seed
(changing the ratio leaves the validation pairs as they are).

Features: `user_id` and `item_id` (categorical). Vocabularies come from the
training rows (positives and negatives); ids first seen later go to the OOV
bucket.
"""

import os

import numpy as np

from zoo.data.base.errors import DataError
from zoo.data.base.negative_sampling import check_negatives_per_positive, sample_negatives
from zoo.data.base.paths import unshipped_data_dir
from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.data.formats.delimited_reader import open_text
from zoo.features.spec import CategoricalFeature
from zoo.tasks import Task

NAME = "taobao-multibehavior"
# Role -> file name, as published.
FILES = {"buy_train": "train.txt", "buy_test": "test.txt", "cart": "cart.txt"}
TASKS = ("cart", "buy")
FEATURES = ("user_id", "item_id")
DOWNLOAD = (
    "Download train.txt, test.txt and cart.txt from https://github.com/chenchongthu/GHCF "
    "(folder Data/Taobao) into one folder."
)
SPLITS = ("train", "validation", "test")


def _first_non_integer(fields):
    for field in fields:
        try:
            int(field)
        except ValueError:
            return field
    return None


def _read_adjacency(path):
    """The `(users, items)` int64 arrays of one adjacency-list file."""
    users, items = [], []
    first_line = {}
    try:
        with open_text(path) as f:
            for line_number, line in enumerate(f, start=1):
                fields = line.split()
                if not fields:
                    continue
                try:
                    ids = [int(field) for field in fields]
                except ValueError:
                    raise DataError(
                        f"{path}, line {line_number}: expected integer ids (user_id item_id "
                        f"item_id ...) separated by spaces, found {_first_non_integer(fields)!r}."
                    ) from None
                if min(ids) < 0:
                    raise DataError(
                        f"{path}, line {line_number}: expected ids >= 0, found {min(ids)}."
                    )
                user, line_items = ids[0], ids[1:]
                if user in first_line:
                    raise DataError(
                        f"{path}, line {line_number}: user {user} already has a line "
                        f"(line {first_line[user]}); each user has one line."
                    )
                first_line[user] = line_number
                if len(set(line_items)) != len(line_items):
                    seen = set()
                    repeated = next(i for i in line_items if i in seen or seen.add(i))
                    raise DataError(
                        f"{path}, line {line_number}: item {repeated} appears twice for user "
                        f"{user}."
                    )
                users.extend([user] * len(line_items))
                items.extend(line_items)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read as text ({error}).") from error
    if not items:
        raise DataError(f"{path}: the file has no (user, item) pairs.")
    return np.asarray(users, np.int64), np.asarray(items, np.int64)


def _data_dir(data_dir):
    """The data folder (see `unshipped_data_dir`), checked to hold every file of `FILES`."""
    data_dir = unshipped_data_dir(data_dir, NAME, "no redistribution right", DOWNLOAD)
    for name in FILES.values():
        if not os.path.exists(os.path.join(data_dir, name)):
            raise DataError(
                f"{os.path.join(data_dir, name)}: file not found. The {NAME} folder must hold "
                f"{', '.join(FILES.values())}. {DOWNLOAD}"
            )
    return data_dir


def _check_fraction(name, value):
    if not isinstance(value, (int, float, np.number)) or not 0 < value < 1:
        raise ValueError(f"Expected 0 < {name} < 1. Received: {name}={value!r}")


def load_taobao_multibehavior(
    data_dir=None,
    negatives_per_positive=1,
    validation_fraction=0.1,
    seed=2024,
    embedding_dim=16,
    max_users=None,
):
    """Loads the Taobao cart/buy graph as a `TabularDataset` of (user, item) pairs.

    Args:
        data_dir: folder with `train.txt`, `test.txt` and `cart.txt`; defaults
            to `$ZOO_DATA_DIR/taobao-multibehavior` (nothing is shipped).
        negatives_per_positive: sampled (0, 0) pairs per positive pair, in
            every split.
        validation_fraction: the share of the training pairs held out for
            validation, drawn uniformly over pairs.
        seed: seeds the validation draw and the negatives.
        embedding_dim: embedding width of `user_id` and `item_id`.
        max_users: int or `None`. Keep only this many users, drawn
            uniformly with the seed, with all their pairs (a smaller graph
            of the same shape, for quick experiments); `None` keeps all.

    Returns:
        A `TabularDataset` named `"taobao-multibehavior"`, tasks `cart` and
        `buy`, `user_feature="user_id"` (GAUC), and `settings` recording the
        arguments, the id ranges and each split's positives and negatives.

    Raises:
        ValueError: an argument out of range.
        DataError: no data folder, a missing file, or a malformed line (the
            message names the file and line).

    Example:
    ```python
    dataset = load_taobao_multibehavior("path/to/Taobao", negatives_per_positive=4)
    dataset.train.labels["buy"].mean()  # share of purchases among the training rows
    ```
    """
    check_negatives_per_positive(negatives_per_positive)
    _check_fraction("validation_fraction", validation_fraction)
    data_dir = _data_dir(data_dir)
    pairs = {role: _read_adjacency(os.path.join(data_dir, name)) for role, name in FILES.items()}
    # A third stream of the seed: the first two (validation, negatives) stay as they were.
    split_rng, negative_rng, user_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    if max_users is not None:
        if not isinstance(max_users, (int, np.integer)) or max_users < 1:
            raise ValueError(f"Expected max_users >= 1 or None. Received: max_users={max_users!r}")
        every_user = np.unique(np.concatenate([users for users, _ in pairs.values()]))
        if max_users < len(every_user):
            kept = user_rng.choice(every_user, int(max_users), replace=False)
            pairs = {
                role: (users[keep], items[keep])
                for role, (users, items) in pairs.items()
                for keep in [np.isin(users, kept)]
            }
    num_users = 1 + max(int(users.max()) for users, _ in pairs.values())
    num_items = 1 + max(int(items.max()) for _, items in pairs.values())

    def keys(role):
        users, items = pairs[role]
        return np.unique(users * num_items + items)

    cart, buy, test = keys("cart"), keys("buy_train"), keys("buy_test")
    train = np.setdiff1d(np.union1d(cart, buy), test)
    dropped_cart = int(np.isin(test, cart).sum())
    dropped_buy = int(np.isin(test, buy).sum())

    num_validation = int(round(validation_fraction * len(train)))
    if not 0 < num_validation < len(train):
        raise DataError(
            f"{data_dir}: {len(train)} training pairs; validation_fraction="
            f"{validation_fraction} leaves no validation or no training pair."
        )
    held_out = np.zeros(len(train), bool)
    held_out[split_rng.permutation(len(train))[:num_validation]] = True
    positives = {"train": train[~held_out], "validation": train[held_out], "test": test}

    # Negatives for all splits at once: distinct per user, so no pair is in two splits.
    slots = {
        name: np.repeat(key // num_items, negatives_per_positive) for name, key in positives.items()
    }
    interacted = np.union1d(np.union1d(cart, buy), test)
    drawn = sample_negatives(
        np.concatenate([slots[name] for name in SPLITS]),
        interacted // num_items,
        interacted % num_items,
        num_items,
        negative_rng,
    )
    bounds = np.cumsum([0] + [len(slots[name]) for name in SPLITS])

    splits, counts = {}, {}
    for index, name in enumerate(SPLITS):
        negative_items = drawn[bounds[index] : bounds[index + 1]]
        found = negative_items >= 0
        negative = slots[name][found] * num_items + negative_items[found]
        key = np.concatenate([positives[name], negative])
        order = np.argsort(key, kind="stable")  # rows by user, then item
        key = key[order]
        labels = {
            "cart": np.isin(key, cart),
            "buy": np.isin(key, test) if name == "test" else np.isin(key, buy),
        }
        splits[name] = Split(
            features={"user_id": key // num_items, "item_id": key % num_items},
            labels={task: labels[task].astype("float32") for task in TASKS},
        )
        counts[name] = {
            "positives": int(len(positives[name])),
            "negatives": int(found.sum()),
            "negatives_short": int((~found).sum()),
        }

    shares = ", ".join(f"{t} {splits['train'].labels[t].mean():.1%}" for t in TASKS)
    summary = (
        "; ".join(
            f"{name} {len(splits[name]):,} rows ({counts[name]['positives']:,} pairs + "
            f"{counts[name]['negatives']:,} sampled negatives)"
            for name in SPLITS
        )
        + f". Training rows: {shares}. {dropped_cart:,} carted test purchases are test rows "
        "only."
    )
    short = sum(c["negatives_short"] for c in counts.values())
    if short:
        summary += f" {short:,} negatives short: some users have too few untouched items."
    return TabularDataset(
        name=NAME,
        features=[
            CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim)
            for name in FEATURES
        ],
        tasks=[Task(name) for name in TASKS],
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        settings={
            "dataset": NAME,
            "data_dir": os.path.abspath(data_dir),
            "negatives_per_positive": int(negatives_per_positive),
            "validation_fraction": float(validation_fraction),
            "seed": int(seed),
            "embedding_dim": int(embedding_dim),
            "max_users": None if max_users is None else int(max_users),
            "files": dict(FILES),
            "num_users": num_users,
            "num_items": num_items,
            "test_pairs_removed_from_training": {"cart": dropped_cart, "buy": dropped_buy},
            "split_counts": counts,
        },
        summary=summary,
        user_feature="user_id",
    )
