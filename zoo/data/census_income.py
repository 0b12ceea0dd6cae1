"""Census-Income (KDD), UCI dataset 117, as the MMoE paper uses it.

Reads the published files as they are (`census-income.data[.gz]`,
`census-income.test[.gz]`: no header, 42 fields separated by ", ").

Task groups (MMoE paper, section 5.2):
- group 1: `income` (income > 50K) and `never_married` (marital status is
  "Never married").
- group 2: `college_or_above` and `never_married`. The paper says "education
  level is at least college"; we count every education value that reached
  college: "Some college but no degree", both Associates degrees, Bachelors,
  Masters, Prof school and Doctorate (33.6% of the training rows).

Feature protocols:
- `paper`: the label columns of both groups (income, marital status,
  education) and the survey weight are not features.
- `all-features`: every column except the current group's two label columns
  and the survey weight (what torch-rechub, PaddleRec and the peer benchmark
  in ../shared/peer-bench do for group 1).

The UCI test file is split 1:1 into validation and test by a seeded
permutation (seed 1 by default, the same rows as the peer benchmark).

`load_census_income(..., streaming=True)` reads the same rows from the files
on every pass instead of into memory
(`zoo.data.census_income_streaming.StreamingCensusIncome`).
"""

import os

import numpy as np

from zoo.data.delimited_reader import (
    decode_line,
    numbered_lines,
    parse_float32,
    parse_floats,
    read_columns,
)
from zoo.data.errors import DataError
from zoo.data.paths import default_data_dir
from zoo.data.tabular_dataset import Split, TabularDataset
from zoo.features.spec import CategoricalFeature, NumericFeature
from zoo.tasks import Task

NAME = "census-income"

# (column name, continuous?) in file order; names as in columns.tsv.
COLUMNS = (
    ("age", True),
    ("class_worker", False),
    ("det_ind_code", False),
    ("det_occ_code", False),
    ("education", False),
    ("wage_per_hour", True),
    ("hs_college", False),
    ("marital_stat", False),
    ("major_ind_code", False),
    ("major_occ_code", False),
    ("race", False),
    ("hisp_origin", False),
    ("sex", False),
    ("union_member", False),
    ("unemp_reason", False),
    ("full_or_part_emp", False),
    ("capital_gains", True),
    ("capital_losses", True),
    ("stock_dividends", True),
    ("tax_filer_stat", False),
    ("region_prev_res", False),
    ("state_prev_res", False),
    ("det_hh_fam_stat", False),
    ("det_hh_summ", False),
    ("instance_weight", True),
    ("mig_chg_msa", False),
    ("mig_chg_reg", False),
    ("mig_move_reg", False),
    ("mig_same", False),
    ("mig_prev_sunbelt", False),
    ("num_emp", True),
    ("fam_under_18", False),
    ("country_father", False),
    ("country_mother", False),
    ("country_self", False),
    ("citizenship", False),
    ("own_or_self", False),
    ("vet_question", False),
    ("vet_benefits", False),
    ("weeks_worked", True),
    ("year", False),
    ("income_50k", False),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)
DELIMITER = ", "
TRAIN_FILE = "census-income.data"
TEST_FILE = "census-income.test"

INCOME_VALUES = {"- 50000.": 0.0, "50000+.": 1.0}
COLLEGE_OR_ABOVE = frozenset(
    {
        "Some college but no degree",
        "Associates degree-occup /vocational",
        "Associates degree-academic program",
        "Bachelors degree(BA AB BS)",
        "Masters degree(MA MS MEng MEd MSW MBA)",
        "Prof school degree (MD DDS DVM LLB JD)",
        "Doctorate degree(PhD EdD)",
    }
)
# The .names file says the survey weight must not be used as a feature.
SURVEY_WEIGHT = "instance_weight"
TASK_GROUPS = {
    1: ("income", "never_married"),
    2: ("college_or_above", "never_married"),
}
LABEL_COLUMNS = {
    "income": "income_50k",
    "never_married": "marital_stat",
    "college_or_above": "education",
}
PROTOCOLS = ("paper", "all-features")


def feature_columns(task_group, protocol):
    """The feature column names of a task group under a protocol."""
    if task_group not in TASK_GROUPS:
        raise ValueError(f"Expected task_group 1 or 2. Received: task_group={task_group!r}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"Expected protocol in {PROTOCOLS}. Received: protocol={protocol!r}")
    if protocol == "paper":
        excluded = set(LABEL_COLUMNS.values())
    else:
        excluded = {LABEL_COLUMNS[task] for task in TASK_GROUPS[task_group]}
    excluded.add(SURVEY_WEIGHT)
    return [name for name in COLUMN_NAMES if name not in excluded]


def feature_spec(columns, embedding_dim):
    """The features of `columns`: numeric where the column is continuous, else categorical."""
    continuous = dict(COLUMNS)
    return [
        NumericFeature(name)
        if continuous[name]
        else CategoricalFeature(name, embedding_dim=embedding_dim)
        for name in columns
    ]


def find_file(data_dir, base_name):
    for candidate in (base_name + ".gz", base_name):
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            return path
    raise DataError(
        f"{os.path.join(data_dir, base_name)}[.gz]: file not found. The Census-Income "
        f"directory must hold {TRAIN_FILE}[.gz] and {TEST_FILE}[.gz] as published by UCI."
    )


def _read_file(path, columns_wanted):
    try:
        return _parse_file(path, columns_wanted)
    except DataError:
        # The checks run check by check over the whole file; name the first
        # bad line instead, as the streamed reader does.
        found = first_bad_line(path, columns_wanted)
        if found is None:
            raise
        raise found from None


def first_bad_line(path, columns_wanted):
    """A DataError for the first line of a Census-Income file that does not parse, or None.

    Both readers' checks, line by line: 42 fields in UTF-8, a finite float32
    in every wanted continuous column, a known income label. Blank lines
    (ASCII whitespace) are skipped. Reading errors raise their DataError.
    """
    wanted = set(columns_wanted)
    continuous = [i for i, (name, is_continuous) in enumerate(COLUMNS) if is_continuous]
    continuous = [i for i in continuous if COLUMN_NAMES[i] in wanted]
    income = COLUMN_NAMES.index("income_50k")
    with numbered_lines(path) as lines:
        for line_number, line in lines:
            if not line.strip():
                continue
            where = f"{path}, line {line_number}"
            try:
                fields = decode_line(line, path, line_number).split(DELIMITER)
            except DataError as error:
                return error
            if len(fields) != len(COLUMNS):
                return DataError(
                    f"{where}: expected {len(COLUMNS)} fields separated by {DELIMITER!r}, "
                    f"found {len(fields)}."
                )
            for i in continuous:
                if parse_float32(fields[i]) is None:
                    return DataError(
                        f"{where}: column {COLUMN_NAMES[i]!r} expects a finite number, "
                        f"found {fields[i]!r}."
                    )
            if fields[income] not in INCOME_VALUES:
                return DataError(
                    f"{where}: column 'income_50k' expects one of {sorted(INCOME_VALUES)}, "
                    f"found {fields[income]!r}."
                )
    return None


def _parse_file(path, columns_wanted):
    columns, line_numbers = read_columns(path, len(COLUMNS), DELIMITER)
    by_name = dict(zip(COLUMN_NAMES, columns))
    continuous = dict(COLUMNS)
    raw = {}
    for name in columns_wanted:
        if continuous[name]:
            raw[name] = np.asarray(parse_floats(by_name[name], line_numbers, path, name), "float32")
        else:
            raw[name] = np.asarray(by_name[name], dtype=object)
    # Labels are validated on every row: an unexpected income value is a
    # corrupt file, not a negative.
    for value, line_number in zip(by_name["income_50k"], line_numbers):
        if value not in INCOME_VALUES:
            raise DataError(
                f"{path}, line {line_number}: column 'income_50k' expects one of "
                f"{sorted(INCOME_VALUES)}, found {value!r}."
            )
    labels = {
        "income": np.asarray([INCOME_VALUES[v] for v in by_name["income_50k"]], "float32"),
        "never_married": np.asarray(
            [v == "Never married" for v in by_name["marital_stat"]], "float32"
        ),
        "college_or_above": np.asarray(
            [v in COLLEGE_OR_ABOVE for v in by_name["education"]], "float32"
        ),
    }
    return raw, labels


def validation_mask(num_rows, split_seed):
    """Which rows of the UCI test file are validation: half of them, by a seeded permutation."""
    permutation = np.random.RandomState(split_seed).permutation(num_rows)
    mask = np.zeros(num_rows, bool)
    mask[permutation[: num_rows // 2]] = True
    return mask


def load_census_income(
    data_dir=None,
    task_group=1,
    protocol="paper",
    split_seed=1,
    embedding_dim=4,
    streaming=False,
    shuffle_buffer=100_000,
):
    """Loads Census-Income, in memory or streamed from its files.

    Args:
        data_dir: directory with the UCI files; defaults to the copy shipped
            in `datasets/census-income/` (or `$ZOO_DATA_DIR/census-income`).
        task_group: `1` (income, never_married) or `2` (college_or_above,
            never_married).
        protocol: `"paper"` or `"all-features"` (see the module docstring).
        split_seed: seed of the permutation that halves the UCI test file
            into validation and test.
        embedding_dim: embedding width of every categorical feature.
        streaming: read the files as a stream on every pass instead of into
            memory (`zoo.data.census_income_streaming.StreamingCensusIncome`):
            the same rows, features and labels in the same order.
        shuffle_buffer: with `streaming`, the training lines held by the row
            shuffle.

    Returns:
        A `TabularDataset` named `"census-income"` (a `StreamingCensusIncome`
        with `streaming`).

    Raises:
        DataError: a file is missing, empty or malformed (the message names
            the file and line).
    """
    task_group = int(task_group)
    columns = feature_columns(task_group, protocol)
    data_dir = data_dir or default_data_dir(NAME)
    if streaming:
        from zoo.data.census_income_streaming import StreamingCensusIncome

        return StreamingCensusIncome(
            data_dir,
            task_group=task_group,
            protocol=protocol,
            split_seed=split_seed,
            embedding_dim=embedding_dim,
            shuffle_buffer=shuffle_buffer,
        )
    train_raw, train_labels = _read_file(find_file(data_dir, TRAIN_FILE), columns)
    rest_raw, rest_labels = _read_file(find_file(data_dir, TEST_FILE), columns)

    is_validation = validation_mask(len(rest_labels["income"]), split_seed)
    validation_rows, test_rows = np.flatnonzero(is_validation), np.flatnonzero(~is_validation)
    tasks = [Task(name) for name in TASK_GROUPS[task_group]]

    def split(raw, labels, rows=None):
        take = (lambda a: a) if rows is None else (lambda a: a[rows])
        return Split(
            features={name: take(raw[name]) for name in columns},
            labels={t.name: take(labels[t.name]) for t in tasks},
        )

    return TabularDataset(
        name=NAME,
        features=feature_spec(columns, embedding_dim),
        tasks=tasks,
        train=split(train_raw, train_labels),
        validation=split(rest_raw, rest_labels, validation_rows),
        test=split(rest_raw, rest_labels, test_rows),
        settings={
            "dataset": NAME,
            "data_dir": os.path.abspath(data_dir),
            "task_group": task_group,
            "protocol": protocol,
            "split_seed": split_seed,
            "embedding_dim": embedding_dim,
        },
    )
