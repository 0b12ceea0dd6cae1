"""`previous_interactions` on random logs, against a slow reference, and its errors.

The reference walks the log row by row; the properties (no leakage, newest
first, truncation, ties excluded, `include`, padding) are also checked
directly, with each item the index of its log row so that a history entry
names the event it came from.
"""

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.data import previous_interactions, previous_interactions_from_log
from zoo.features.spec import LIST_PADDING

RANDOM = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


def reference(users, times, items, max_len, include=None, padding=-1):
    """Row by row: the included events of the same user strictly earlier, newest first.

    Ties in time go later line first, as `previous_interactions` documents.
    """
    num_rows = len(users)
    include = np.ones(num_rows, bool) if include is None else include
    out = []
    for row in range(num_rows):
        events = [
            j
            for j in range(num_rows)
            if include[j] and users[j] == users[row] and times[j] < times[row]
        ]
        events.sort(key=lambda j: (times[j], j), reverse=True)
        kept = [items[j] for j in events[:max_len]]
        out.append(kept + [padding] * (max_len - len(kept)))
    return out


@st.composite
def logs(draw, max_rows=30):
    """`(users, times, include, max_len)`: few users and few distinct times, so ties abound."""
    num_rows = draw(st.integers(0, max_rows))
    users = np.asarray(draw(st.lists(st.integers(0, 3), min_size=num_rows, max_size=num_rows)))
    times = np.asarray(draw(st.lists(st.integers(0, 8), min_size=num_rows, max_size=num_rows)))
    include = draw(
        st.one_of(
            st.none(),
            st.lists(st.booleans(), min_size=num_rows, max_size=num_rows).map(
                lambda mask: np.asarray(mask, bool)
            ),
        )
    )
    return users.astype(np.int64), times.astype(np.int64), include, draw(st.integers(1, 6))


@RANDOM
@given(logs())
def test_matches_the_reference(log):
    users, times, include, max_len = log
    items = np.arange(len(users)) * 7 + 3  # any ids but the padding
    history = previous_interactions(users, times, items, max_len, include=include)
    assert history.dtype == np.int64 and history.shape == (len(users), max_len)
    assert history.tolist() == reference(users, times, items.tolist(), max_len, include)


@RANDOM
@given(
    logs(),
    st.sampled_from([(1, 1, 0), (2**40, 1000, 1_650_000_000_000), (2**61, 2**59, -(2**62))]),
)
def test_wide_ids_and_times_match_the_reference(log, scales):
    """Ids and times whose (user, time) product overflows int64 are ranked, not shifted."""
    users, times, include, max_len = log
    user_scale, time_scale, offset = scales  # the largest values stay within int64
    items = np.arange(len(users)) + 1
    history = previous_interactions(
        users * user_scale, times * time_scale + offset, items, max_len, include
    )
    assert history.tolist() == reference(users, times, items.tolist(), max_len, include)
    unsigned = previous_interactions(
        users.astype(np.uint64) + 2**63, times, items, max_len, include
    )
    assert unsigned.tolist() == reference(users, times, items.tolist(), max_len, include)


@RANDOM
@given(logs())
def test_no_leakage_newest_first_truncated_and_padded(log):
    users, times, include, max_len = log
    num_rows = len(users)
    included = np.ones(num_rows, bool) if include is None else include
    history = previous_interactions(users, times, np.arange(num_rows), max_len, include=include)
    for row, entries in enumerate(history.tolist()):
        events = [e for e in entries if e != -1]
        # Padding only at the end.
        assert entries == events + [-1] * (max_len - len(events))
        for event in events:
            # Same user, strictly earlier (so never the row itself nor a tie), included.
            assert users[event] == users[row] and times[event] < times[row]
            assert included[event] and event != row
        assert len(set(events)) == len(events)
        # Newest first.
        assert all(times[a] >= times[b] for a, b in zip(events, events[1:]))
        eligible = [
            j
            for j in range(num_rows)
            if included[j] and users[j] == users[row] and times[j] < times[row]
        ]
        # Truncated to max_len, keeping the newest.
        assert len(events) == min(max_len, len(eligible))
        left_out = set(eligible) - set(events)
        if left_out and events:
            assert max(times[j] for j in left_out) <= min(times[e] for e in events)


@RANDOM
@given(logs(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(log, random):
    users, times, include, max_len = log
    num_rows = len(users)
    history = previous_interactions(users, times, np.arange(num_rows), max_len, include=include)
    shuffle = list(range(num_rows))
    random.shuffle(shuffle)
    shuffle = np.asarray(shuffle, np.int64)
    shuffled = previous_interactions(
        users[shuffle],
        times[shuffle],
        shuffle,  # each event keeps its original index as its item
        max_len,
        include=None if include is None else include[shuffle],
    )
    for new_row, old_row in enumerate(shuffle.tolist()):
        # Events at the same times. Which of tied events comes first, or is
        # kept at the truncation, follows the log order; a history that is
        # not full holds every eligible event, whatever the order.
        old, new = history[old_row], shuffled[new_row]
        assert [times[e] if e >= 0 else None for e in old] == [
            times[e] if e >= 0 else None for e in new
        ]
        if (old == -1).any():
            assert set(old.tolist()) == set(new.tolist())


@RANDOM
@given(logs(max_rows=20), st.sampled_from(["U", "O"]), st.sampled_from(["float", "datetime"]))
def test_string_items_and_users_float_and_datetime_times(log, string_kind, time_kind):
    users, times, include, max_len = log
    names = np.asarray([f"user {u}" for u in users.tolist()], dtype=object)
    items = np.asarray([f"item-{k}" for k in range(len(users))], dtype=string_kind)
    if time_kind == "float":
        moments = times * 0.5 - 1.25
    else:
        moments = np.datetime64("2017-11-25T00:00:00") + times.astype("timedelta64[s]")
    history = previous_interactions(names, moments, items, max_len, include=include)
    assert history.dtype == items.dtype and history.shape == (len(users), max_len)
    expected = reference(users, times, items.tolist(), max_len, include, padding="")
    assert history.tolist() == expected


@RANDOM
@given(logs(), st.data())
def test_rows_returns_those_rows_only(log, data):
    users, times, include, max_len = log
    items = np.arange(len(users)) + 100
    full = previous_interactions(users, times, items, max_len, include=include)
    rows = data.draw(st.lists(st.integers(0, max(len(users) - 1, 0)), max_size=len(users) and 12))
    picked = previous_interactions(users, times, items, max_len, include=include, rows=rows)
    assert picked.shape == (len(rows), max_len)
    np.testing.assert_array_equal(picked, full[np.asarray(rows, np.int64)].reshape(-1, max_len))


def test_worked_example_and_padding_values():
    history = previous_interactions([1, 1, 1, 2], [10, 30, 20, 10], [7, 9, 8, 7], max_len=2)
    assert history.tolist() == [[-1, -1], [8, 7], [7, -1], [-1, -1]]
    # Same second: neither event is in the other's history; a later row sees both,
    # the later line first.
    history = previous_interactions([1, 1, 1], [5, 5, 6], [1, 2, 3], max_len=3)
    assert history.tolist() == [[-1, -1, -1], [-1, -1, -1], [2, 1, -1]]
    assert LIST_PADDING == {"string": "", "int64": -1}
    empty = previous_interactions([], [], np.asarray([], np.int64), max_len=4)
    assert empty.shape == (0, 4) and empty.dtype == np.int64


def test_include_keeps_events_out_of_histories_but_gives_them_one():
    clicked = np.asarray([True, False, True, True])
    history = previous_interactions([1, 1, 1, 1], [1, 2, 3, 4], [10, 20, 30, 40], 4, clicked)
    assert history.tolist() == [
        [-1, -1, -1, -1],
        [10, -1, -1, -1],  # the unclicked row has a history
        [10, -1, -1, -1],  # and is in none
        [30, 10, -1, -1],
    ]


def test_one_long_user_is_fast():
    """A quadratic pass (every pair of a user's events) would take minutes here."""
    num_rows = 400_000
    rng = np.random.default_rng(0)
    times = rng.permutation(num_rows)
    start = time.perf_counter()
    history = previous_interactions(np.zeros(num_rows, np.int64), times, times + 1, 20)
    assert time.perf_counter() - start < 10
    late = int(np.argmax(times))
    np.testing.assert_array_equal(history[late], np.arange(num_rows - 1, num_rows - 21, -1))


def test_from_log_reads_named_columns():
    log = {
        "visitor": np.asarray(["a", "a", "b", "a"], dtype=object),
        "at": np.asarray([1.0, 2.0, 1.0, 3.0]),
        "sku": np.asarray([5, 6, 7, 8]),
        "clicked": np.asarray([True, False, True, True]),
    }
    history = previous_interactions_from_log(
        log, 2, user="visitor", time="at", item="sku", include="clicked"
    )
    assert history.tolist() == [[-1, -1], [5, -1], [-1, -1], [5, -1]]
    with pytest.raises(ValueError, match=r"time column 'timestamp'.*visitor, at, sku, clicked"):
        previous_interactions_from_log(log, 2, user="visitor", item="sku")


@pytest.mark.parametrize(
    "users, times, items, max_len, options, message",
    [
        ([1, 2], [1], [1, 2], 3, {}, r"one length.*lengths 2, 1 and 2"),
        ([[1, 2]], [[1, 2]], [[1, 2]], 3, {}, r"users to be 1-D.*shape \(1, 2\)"),
        ([1], [1], [1], 0, {}, r"max_len >= 1.*max_len=0"),
        ([1], [1], [1], 2.5, {}, r"max_len >= 1.*max_len=2.5"),
        ([1], [1], [1], True, {}, r"max_len >= 1.*max_len=True"),
        ([1, 1], [1.0, np.nan], [1, 2], 3, {}, r"finite.*times\[1\]=.*nan.*1 rows"),
        ([1, 1], [np.inf, 1.0], [1, 2], 3, {}, r"finite.*times\[0\]=.*inf"),
        ([1], np.asarray(["NaT"], "datetime64[s]"), [1], 3, {}, r"times\[0\]=.*NaT"),
        ([1], ["monday"], [1], 3, {}, r"times to be numbers.*dtype <U6"),
        ([1, 1], [1, 2], [1.5, 2.0], 3, {}, r"integers.*or strings.*dtype float64"),
        ([1, 1], [1, 2], [True, False], 3, {}, r"integers.*or strings.*dtype bool"),
        ([1, 1], [1, 2], np.asarray(["a", 3], dtype=object), 3, {}, r"dtype object, e.g. 3"),
        ([1, 1], [1, 2], [4, -1], 3, {}, r"padding value -1.*items\[1\]=-1"),
        ([1, 1], [1, 2], ["a", ""], 3, {}, r"padding value ''.*items\[1\]=''"),
        ([1, 1], [1, 2], [1, 2], 3, {"include": [1, 0]}, r"include to be a bool.*int64"),
        ([1, 1], [1, 2], [1, 2], 3, {"include": [True]}, r"bool array of length 2.*length 1"),
        ([1, 1], [1, 2], [1, 2], 3, {"rows": [2]}, r"rows to be indices.*0\.\.1"),
        ([1, 1], [1, 2], [1, 2], 3, {"rows": [0.0]}, r"rows to be indices.*float64"),
        (np.asarray([1, "a"], dtype=object), [1, 2], [1, 2], 3, {}, r"users of one sortable"),
    ],
)
def test_errors_name_the_bad_value(users, times, items, max_len, options, message):
    with pytest.raises(ValueError, match=message):
        previous_interactions(users, times, items, max_len, **options)
