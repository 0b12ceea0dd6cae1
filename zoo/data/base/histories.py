"""Behaviour histories from a time-stamped log without leakage: a `SequenceFeature`'s raw values.

For every row of a log (one interaction: a user, a time, an item), its
history is the items of the same user's interactions *strictly before* the
row's time, newest first, the first `max_len` of them, padded with
`LIST_PADDING` to a `(rows, max_len)` array. Interactions at the row's own
time are left out, and so is the row itself: a log stamped in seconds (or
days) cannot say which of two events at the same time came first, and a
history that held one of them could hold the very event whose label the row
predicts (a purchase logged in the same second as the click).

Histories are computed over the whole log before it is split: a test row's
history may hold training-period events, which is what a served model sees
(the past at request time), and never an event at or after the row's time.

The work is one sort of the log and index arithmetic, with memory in
O(rows * max_len) (the output) plus O(rows) for the index: no Python loop
runs per row, only one per history position.
"""

import numpy as np

from zoo.features.spec import LIST_PADDING


def _one_dimensional(name, values):
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(
            f"Expected {name} to be 1-D (one value per log row). Received: shape {values.shape}"
        )
    return values


def _value(values, row):
    """`values[row]` as Python writes it (`-1`, not numpy's `np.int64(-1)`; `NaT`, not `None`)."""
    if values.dtype.kind == "M":
        return str(values[row])
    return repr(values[row : row + 1].tolist()[0])


def _check_times(times):
    """The times as sortable integers or floats, or a ValueError naming a missing one."""
    kind = times.dtype.kind
    if kind == "M":  # datetime64: NaT is its missing value
        missing = np.isnat(times)
    elif kind in "iu":
        missing = np.zeros(len(times), bool)
    elif kind == "f":
        missing = ~np.isfinite(times)
    else:
        raise ValueError(
            "Expected times to be numbers (e.g. unix seconds) or datetime64. "
            f"Received: dtype {times.dtype}"
        )
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise ValueError(
            "Expected every time to be a finite number. "
            f"Received: times[{row}]={_value(times, row)} ({int(missing.sum())} rows in all); "
            "drop the rows without a time first."
        )
    # As integers, which `_dense_codes` shifts instead of sorting them.
    return times.astype("datetime64[ns]").view(np.int64) if kind == "M" else times


def _check_items(items):
    """`(items, dtype, padding)`: the items as int64 or str, the output dtype and its padding."""
    kind = items.dtype.kind
    if kind in "iu":
        items, dtype, padding = items.astype(np.int64), np.int64, LIST_PADDING["int64"]
    elif kind == "U":
        dtype, padding = items.dtype, LIST_PADDING["string"]
    elif kind == "O" and all(isinstance(item, str) for item in items.tolist()):
        dtype, padding = object, LIST_PADDING["string"]
    else:
        first = next((item for item in items.tolist() if not isinstance(item, str)), None)
        raise ValueError(
            "Expected items to be integers (an int64 feature) or strings (a string feature). "
            f"Received: dtype {items.dtype}" + (f", e.g. {first!r}" if kind == "O" else "")
        )
    is_padding = items == padding
    if is_padding.any():
        row = int(np.flatnonzero(is_padding)[0])
        raise ValueError(
            f"Expected no item equal to the padding value {padding!r}, which marks an empty "
            f"history slot. Received: items[{row}]={_value(items, row)} "
            f"({int(is_padding.sum())} rows in all)"
        )
    return items, dtype, padding


def _dense_codes(values, name, rank=False):
    """`(codes, size)`: int64 codes in `0..size-1` that sort as `values` do.

    Integers are shifted by their minimum (no sort) unless `rank` or their
    range is too wide; anything else is ranked with `np.unique`.
    """
    if not rank and values.dtype.kind in "iu" and len(values):
        low, high = int(values.min()), int(values.max())
        if high - low < 2**62 and high < 2**63:
            return values.astype(np.int64) - np.int64(low), high - low + 1
    try:
        unique, codes = np.unique(values, return_inverse=True)
    except TypeError as error:
        raise ValueError(
            f"Expected {name} of one sortable type (all numbers or all strings). Received: {error}"
        ) from None
    return codes.reshape(-1).astype(np.int64), max(len(unique), 1)


def previous_interactions(users, times, items, max_len, include=None, rows=None):
    """Each log row's history: the same user's items strictly before its time, newest first.

    Args:
        users: 1-D array, the user of each log row (ints or strings); the
            rows may come in any order.
        times: 1-D array of the same length, each row's time: integers
            (unix seconds, milliseconds), floats or datetime64.
        items: 1-D array of the same length, each row's item: integers
            (the history is int64) or strings (the history has their dtype).
        max_len: the history length kept, >= 1: the `max_len` newest
            earlier items (a `SequenceFeature`'s `max_len`).
        include: optional 1-D bool array of the same length saying which
            rows may enter histories (only clicks, say); every row still
            gets a history. `None` lets every row in.
        rows: optional 1-D int array of log row indices: return only their
            histories, in this order (the memory is then `len(rows) *
            max_len`, however long the log). `None` returns every row's.

    Returns:
        A `(rows, max_len)` array, int64 or the items' string dtype: row `r`
        holds the items of the included rows of `users[r]` with a time
        strictly before `times[r]`, newest first, then `LIST_PADDING`
        (`-1` or `""`). Rows at the same time as each other enter a later
        row's history in reverse log order (the later line first, as in a
        log written in time order), and never each other's.

    Raises:
        ValueError: arrays of different lengths or not 1-D, `max_len` not an
            integer >= 1, a time that is NaN, infinite or NaT, items that are
            neither integers nor strings or that equal the padding value, an
            `include` that is not a bool array, `rows` that are not indices
            of the log, or users that do not sort.

    Example:
    ```python
    previous_interactions(
        users=[1, 1, 1, 2], times=[10, 30, 20, 10], items=[7, 9, 8, 7], max_len=2
    )
    # [[-1, -1], [8, 7], [7, -1], [-1, -1]]
    ```
    """
    users, times, items = (
        _one_dimensional(name, values)
        for name, values in (("users", users), ("times", times), ("items", items))
    )
    if not len(users) == len(times) == len(items):
        raise ValueError(
            "Expected users, times and items of one length (one value per log row). "
            f"Received: lengths {len(users)}, {len(times)} and {len(items)}"
        )
    if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1:
        raise ValueError(f"Expected max_len >= 1 (an integer). Received: max_len={max_len!r}")
    max_len = int(max_len)
    times = _check_times(times)
    items, dtype, padding = _check_items(items)
    num_rows = len(users)
    if include is not None:
        include = _one_dimensional("include", include)
        if include.dtype != bool or len(include) != num_rows:
            raise ValueError(
                f"Expected include to be a bool array of length {num_rows} (one per log row). "
                f"Received: dtype {include.dtype}, length {len(include)}"
            )
    if rows is not None:
        rows = _one_dimensional("rows", rows)
        if len(rows) and (rows.dtype.kind not in "iu" or rows.min() < 0 or rows.max() >= num_rows):
            raise ValueError(
                f"Expected rows to be indices of the log, integers in 0..{num_rows - 1}. "
                f"Received: dtype {rows.dtype}, values from {_value(rows, rows.argmin())} to "
                f"{_value(rows, rows.argmax())}"
            )
        rows = rows.astype(np.int64)  # an empty list arrives as floats
    user_codes, num_users = _dense_codes(users, "users")
    time_codes, num_times = _dense_codes(times, "times")
    if num_users * num_times >= 2**62:  # a (user, time) key would overflow int64: rank both
        time_codes, num_times = _dense_codes(times, "times", rank=True)
        user_codes, num_users = _dense_codes(users, "users", rank=True)

    # One sort by (user, time), ties in log order (a stable sort). The events
    # (included rows) are a subsequence of it; a row's history is then the
    # events from its user's first one up to, not including, the first event
    # at or after its own time: one contiguous run, read backwards.
    keys = user_codes * num_times + time_codes
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    is_event = np.ones(num_rows, bool) if include is None else include[order]
    event_keys = sorted_keys[is_event]
    event_items = items[order[is_event]]
    end = np.empty(num_rows, np.int64)  # one past the newest event of each row's history
    end[order] = np.searchsorted(event_keys, sorted_keys, side="left")
    first = np.empty(num_rows, np.int64)  # the first event of each row's user
    first[order] = np.searchsorted(event_keys, user_codes[order] * num_times, side="left")
    if rows is not None:
        end, first = end[rows], first[rows]
    count = np.minimum(end - first, max_len)  # (rows,)

    # Row k of this window view is the events backwards from index
    # num_events - 1 - k: the history of a row with end e is row
    # num_events - e, whose entries past the row's count (earlier users'
    # events, or the padding appended) become padding.
    num_events = len(event_items)
    backwards = np.concatenate([event_items[::-1], np.full(max_len, padding, dtype=dtype)])
    windows = np.lib.stride_tricks.sliding_window_view(backwards, max_len)
    history = windows[num_events - end]  # (rows, max_len), a copy
    history[np.arange(max_len) >= count[:, None]] = padding
    return history


def previous_interactions_from_log(
    log, max_len, user="user_id", time="timestamp", item="item_id", include=None
):
    """`previous_interactions` of a table's columns: a pandas DataFrame, or a dict of arrays.

    Args:
        log: anything whose `log[name]` is a column (a `pandas.DataFrame`,
            a dict from column name to array), one row per interaction.
        max_len: the history length kept, as in `previous_interactions`.
        user, time, item: the names of the user, time and item columns.
        include: `None`, the name of a bool column, or a bool array: the rows
            that may enter histories.

    Returns:
        The `(rows, max_len)` history of every row of `log`, in its row order.

    Raises:
        ValueError: a column is missing (the message lists the log's
            columns), or as `previous_interactions`.

    Example:
    ```python
    log = {"user_id": [1, 1], "timestamp": [5, 6], "item_id": [3, 4]}
    previous_interactions_from_log(log, max_len=3)  # [[-1, -1, -1], [3, -1, -1]]
    ```
    """

    def column(name, role):
        try:
            return np.asarray(log[name])
        except KeyError:
            raise ValueError(
                f"Expected the log to have a {role} column {name!r}. Received columns: "
                f"{', '.join(map(str, log.keys()))}"
            ) from None

    if isinstance(include, str):
        include = column(include, "include")
    return previous_interactions(
        column(user, "user"), column(time, "time"), column(item, "item"), max_len, include
    )
