"""KuaiRand's columns, tasks and features, shared by the in-memory and the streamed reader.

The column lists of both log formats and of the user table, the tasks and
the log columns they are read from, the features, and the split by date:
what `loader.load_kuairand` and `streaming.StreamingKuaiRand` must agree on
to give the same rows. It imports neither of them.
"""

import datetime

import numpy as np

from zoo.data.base.errors import DataError
from zoo.features.spec import CategoricalFeature

NAME = "kuairand"

LOG_COLUMNS = (
    "user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like", "is_follow",
    "is_comment", "is_forward", "is_hate", "long_view", "play_time_ms", "duration_ms",
    "profile_stay_time", "comment_stay_time", "is_profile_enter", "is_rand", "tab",
)  # fmt: skip
SUBSET_COLUMNS = (
    "user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_follow", "is_comment",
    "is_forward", "long_view", "play_time_ms", "duration_ms", "comment_stay_time",
    "is_profile_enter", "label", "timestamp",
)  # fmt: skip
# Format name -> its columns. The name goes into `settings["log_format"]`.
LOG_FORMATS = {"kuairand-log": LOG_COLUMNS, "like-hate-subset": SUBSET_COLUMNS}

USER_COLUMNS = (
    "user_id", "user_active_degree", "is_lowactive_period", "is_live_streamer",
    "is_video_author", "follow_user_num", "follow_user_num_range", "fans_user_num",
    "fans_user_num_range", "friend_user_num", "friend_user_num_range", "register_days",
    "register_days_range",
) + tuple(f"onehot_feat{i}" for i in range(18))  # fmt: skip
STRING_USER_FEATURES = (
    "user_active_degree",
    "follow_user_num_range",
    "fans_user_num_range",
    "friend_user_num_range",
    "register_days_range",
)
INT_USER_FEATURES = ("is_lowactive_period", "is_live_streamer", "is_video_author") + tuple(
    f"onehot_feat{i}" for i in range(18)
)
# KuaiRand's own missing code (is_live_streamer); empty integer user fields get it too.
MISSING_CODE = -124
# The user-group feature of group-aware models (e.g. MFH): raw activity levels
# such as "full_active", "high_active", "middle_active", "low_active".
USER_GROUP_FEATURE = "user_active_degree"

# Task name -> the log column it is read from (None: computed, see `loader._labels`).
TASKS = {
    "click": "is_click",
    "long_view": "long_view",
    "like": None,
    "follow": "is_follow",
    "comment": "is_comment",
    "forward": "is_forward",
    "profile_enter": "is_profile_enter",
    "pcr": None,
}
REGRESSION_TASKS = ("pcr",)
DEFAULT_TASKS = ("click", "long_view", "like", "follow", "comment", "forward")
# 0/1 columns of both formats (the labels of the binary tasks but `like`).
BINARY_COLUMNS = (
    "is_click", "long_view", "is_follow", "is_comment", "is_forward", "is_profile_enter",
)  # fmt: skip
LOG_FEATURES = ("user_id", "video_id", "hour", "weekday")


def weekday(date):
    """Weekday (Monday = 0) of a YYYYMMDD integer; ValueError if it is no date."""
    return datetime.date(date // 10000, date // 100 % 100, date % 100).weekday()


def split_dates(dates, validation_days, test_days, data_dir):
    """Split name -> its dates, from the sorted distinct `dates`.

    The last `test_days` dates are test, the `validation_days` before them
    validation, the rest training; too few dates is a DataError.
    """
    dates = np.unique(dates)
    if len(dates) < validation_days + test_days + 1:
        raise DataError(
            f"{data_dir}: the logs hold {len(dates)} distinct dates ({dates[0]} to {dates[-1]}); "
            f"validation_days={validation_days} and test_days={test_days} need at least "
            f"{validation_days + test_days + 1} (one or more for training)."
        )
    return {
        "train": dates[: -(validation_days + test_days)],
        "validation": dates[-(validation_days + test_days) : -test_days],
        "test": dates[-test_days:],
    }


def feature_spec(user_feature_names, embedding_dim):
    """The features: the log's (`LOG_FEATURES`), then the user table's in `USER_COLUMNS` order."""
    features = [
        CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim)
        for name in LOG_FEATURES
    ]
    features += [
        CategoricalFeature(
            name,
            dtype="string" if name in STRING_USER_FEATURES else "int64",
            embedding_dim=embedding_dim,
        )
        for name in USER_COLUMNS
        if name in user_feature_names
    ]
    return features
