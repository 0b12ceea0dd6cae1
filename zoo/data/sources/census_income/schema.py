"""Census-Income's published files as both readers see them: columns, labels, task groups, splits.

The in-memory loader (`loader.load_census_income`) and the streamed reader
(`streaming.StreamingCensusIncome`) share this module, so they read the same
columns, apply the same line checks and take the same validation rows; it
imports neither of them.
"""

import os

import numpy as np

from zoo.data.base.errors import DataError
from zoo.data.formats.delimited_reader import decode_line, numbered_lines, parse_float32
from zoo.features.spec import CategoricalFeature, NumericFeature

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


def validation_mask(num_rows, split_seed):
    """Which rows of the UCI test file are validation: half of them, by a seeded permutation."""
    permutation = np.random.RandomState(split_seed).permutation(num_rows)
    mask = np.zeros(num_rows, bool)
    mask[permutation[: num_rows // 2]] = True
    return mask
