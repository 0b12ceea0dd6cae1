"""Small data folders in the published file formats, for tests that run whole `zoo` commands.

Each writer creates `folder` (and its parents) and returns it. The rows come
from the format tests in `tests/data/`, so the folders change when those
formats do.
"""

import pathlib

from tests.data.ali_ccp_test import _rows as _ali_ccp_rows
from tests.data.ali_ccp_test import _write as _write_ali_ccp_file
from tests.data.census_income_test import _real_lines, _write_copy
from tests.data.kuairand_test import _official_rows, _user_lines
from tests.data.kuairand_test import _write as _write_kuairand_log
from tests.data.movielens_test import _write_folder as _write_movielens
from tests.data.taobao_multibehavior_test import write_folder as _write_taobao


def write_census_income_head(folder, train_lines=4000, test_lines=2000):
    """`census-income.data` and `.test`: the first lines of the shipped UCI files, plain text.

    The whole shipped copy takes about a minute per `zoo train --epochs 1`
    on 2 cores; its first lines are the same format, with both labels of
    every task.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True)
    _write_copy(
        folder,
        _real_lines("census-income.data", train_lines),
        _real_lines("census-income.test", test_lines),
    )
    return folder


def write_kuairand_27k(folder, rows_per_file=300):
    """Official KuaiRand logs under KuaiRand-27K's file names (`data/` of the download).

    Two parts of the standard log and the random log, comma-separated with
    the official header, and `user_features_27k.csv` (the shipped user
    table's first users, the ids the logs use).
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True)
    names = (
        "log_standard_4_08_to_4_21_27k_part1.csv",
        "log_standard_4_08_to_4_21_27k_part2.csv",
        "log_random_4_22_to_5_08_27k.csv",
    )
    for seed, name in enumerate(names):
        _write_kuairand_log(folder / name, _official_rows(num_rows=rows_per_file, seed=seed))
    (folder / "user_features_27k.csv").write_text("".join(_user_lines()))
    return folder


def write_ali_ccp(folder, sizes=(("train", 600), ("val", 200), ("test", 200))):
    """`ali_ccp_{train,val,test}.csv` in the torch-rechub preprocessed format.

    A few hundred rows a split, so that each split has purchases (about
    one row in eleven).
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True)
    for seed, (word, count) in enumerate(sizes):
        _write_ali_ccp_file(folder / f"ali_ccp_{word}.csv", _ali_ccp_rows(count, seed))
    return folder


def write_movielens_100k(folder):
    """`u.data`, `u.item` (latin-1) and `u.user` of a few users, as GroupLens publishes them."""
    folder = pathlib.Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return _write_movielens(folder)


def write_taobao_multibehavior(folder):
    """GHCF's `train.txt`, `test.txt` and `cart.txt` adjacency lists of a small graph."""
    folder = pathlib.Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return _write_taobao(folder)
