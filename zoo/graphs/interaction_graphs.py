"""The three graphs MoGENet learns from, built from user-item interaction records.

- The user-item bipartite graph: an edge (u, i) when any of the K labels of a
  record of that pair is positive (the paper's e_{u,i} = 1 iff sum_k y^k_{u,i} >= 1).
- The user-user and item-item collaborative similarity graphs: cosine
  similarity of the binary interaction vectors,
  sim(u, v) = C_uv / sqrt(deg_u deg_v) with C_uv the number of items both
  interacted with, keeping each node's `top_k` most similar other nodes.

Build them from the TRAINING split only: a validation or test edge in a graph
leaks its label into every model that aggregates over the graph. That is why
the constructor is `InteractionGraphs.from_training_interactions`.

Adjacency convention, shared with `zoo.graphs.neighbor_sampling` and the graph
layers: entry [dst, src] means "dst aggregates a message from src"; row v of a
similarity graph lists v's top-k neighbours.
"""

import dataclasses

import numpy as np
import scipy.sparse as sp
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class InteractionGraphs:
    """The bipartite and collaborative similarity graphs of one training split.

    Attributes:
        user_item: `tf.sparse.SparseTensor` `(num_users, num_items)`, value
            1.0 where the user has at least one positive label on the item.
        user_user: `tf.sparse.SparseTensor` `(num_users, num_users)`; row u
            holds the cosine similarity of u's `top_k` most similar users
            (no self loops).
        item_item: `tf.sparse.SparseTensor` `(num_items, num_items)`, the same
            for items.
        num_users: int, the number of user ids (dense, 0-based).
        num_items: int, the number of item ids (dense, 0-based).
        top_k: int, the number of neighbours kept per node in the similarity
            graphs.

    Example:
    ```python
    graphs = InteractionGraphs.from_training_interactions(
        user_ids=np.array([0, 0, 1, 2]),
        item_ids=np.array([0, 1, 1, 2]),
        labels=np.array([[1, 0], [0, 1], [1, 1], [0, 0]]),
        num_users=3,
        num_items=3,
        top_k=2,
    )
    graphs.num_user_item_edges  # 3: the last record has no positive label
    graphs.bipartite().dense_shape  # [6, 6]
    ```

    References:
        Hu, Shen, Wu et al. (Ant Group), "Mixture of Graph Enhanced Expert
        Networks for Multi-task Recommendation", section 2 (graph definitions).
    """

    user_item: tf.sparse.SparseTensor
    user_user: tf.sparse.SparseTensor
    item_item: tf.sparse.SparseTensor
    num_users: int
    num_items: int
    top_k: int

    @classmethod
    def from_training_interactions(
        cls,
        user_ids,
        item_ids,
        labels,
        num_users: int,
        num_items: int,
        *,
        top_k: int = 10,
        block_size: int = 1024,
        max_users_per_item: int | None = None,
        max_items_per_user: int | None = None,
        seed: int = 0,
    ) -> "InteractionGraphs":
        """Builds the three graphs from the training interaction records.

        Never pass validation or test records: their positive pairs would
        become edges the model aggregates over.

        Args:
            user_ids: int array `(rows,)`, dense 0-based user ids.
            item_ids: int array `(rows,)`, dense 0-based item ids.
            labels: array `(rows, K)` (or `(rows,)` for one task) of 0/1
                labels; a record makes an edge when any label is > 0 (a NaN,
                a missing label, is not positive). Repeated pairs are merged.
            num_users: int >= 1, the size of the user id space.
            num_items: int >= 1, the size of the item id space.
            top_k: int >= 1, neighbours kept per node in the similarity graphs.
            block_size: int >= 1, rows of the similarity product computed at
                once; see `top_k_cosine_similarity` for the cost bound.
            max_users_per_item: int or `None`: for the user-user graph, an
                item with more users than this counts only a random subset of
                that many (seeded). Bounds the user-user product's work for
                power-law data. `None`: no cap (exact).
            max_items_per_user: int or `None`: the same cap for the item-item
                graph, on very active users.
            seed: int, the seed of the capping subsamples.

        Returns:
            An `InteractionGraphs`.
        """
        interactions = positive_interaction_matrix(
            user_ids, item_ids, labels, num_users, num_items
        )  # (num_users, num_items) CSR, 0/1
        user_user = top_k_cosine_similarity(
            interactions,
            top_k,
            block_size=block_size,
            max_rows_per_column=max_users_per_item,
            seed=seed,
        )
        item_item = top_k_cosine_similarity(
            interactions.T.tocsr(),
            top_k,
            block_size=block_size,
            max_rows_per_column=max_items_per_user,
            seed=seed,
        )
        return cls(
            user_item=to_sparse_tensor(interactions),
            user_user=to_sparse_tensor(user_user),
            item_item=to_sparse_tensor(item_item),
            num_users=int(num_users),
            num_items=int(num_items),
            top_k=int(top_k),
        )

    @property
    def num_user_item_edges(self) -> int:
        """Distinct (user, item) pairs with a positive label."""
        return int(self.user_item.values.shape[0])

    @property
    def num_user_user_edges(self) -> int:
        return int(self.user_user.values.shape[0])

    @property
    def num_item_item_edges(self) -> int:
        return int(self.item_item.values.shape[0])

    def bipartite(self) -> tf.sparse.SparseTensor:
        """The bipartite graph over one node set: users `0..U-1`, items `U..U+I-1`.

        Symmetric `(U + I, U + I)`, each interaction an edge in both
        directions, so that one message-passing layer (equation (1) of the
        paper shares W between the two directions) updates users and items
        together and `NeighborSampler` can walk user -> item -> user.
        """
        users = self.user_item.indices[:, 0]
        items = self.user_item.indices[:, 1] + self.num_users
        indices = tf.concat(
            [tf.stack([users, items], axis=1), tf.stack([items, users], axis=1)], axis=0
        )  # (2 * num_user_item_edges, 2)
        size = self.num_users + self.num_items
        joint = tf.sparse.SparseTensor(
            indices, tf.concat([self.user_item.values] * 2, axis=0), [size, size]
        )
        return tf.sparse.reorder(joint)


def positive_interaction_matrix(user_ids, item_ids, labels, num_users, num_items) -> sp.csr_matrix:
    """The 0/1 user-item matrix of pairs with at least one positive label.

    Args:
        user_ids: int array `(rows,)`.
        item_ids: int array `(rows,)`.
        labels: array `(rows, K)` or `(rows,)`.
        num_users: int >= 1.
        num_items: int >= 1.

    Returns:
        `scipy.sparse.csr_matrix` `(num_users, num_items)`, float64, entries
        1.0, sorted indices.
    """
    user_ids = np.asarray(user_ids)
    item_ids = np.asarray(item_ids)
    labels = np.asarray(labels, dtype="float64")
    if int(num_users) < 1 or int(num_items) < 1:
        raise ValueError(
            "Expected num_users >= 1 and num_items >= 1. "
            f"Received: num_users={num_users}, num_items={num_items}"
        )
    if user_ids.ndim != 1 or item_ids.shape != user_ids.shape:
        raise ValueError(
            "Expected user_ids and item_ids of the same shape (rows,). "
            f"Received: user_ids.shape={user_ids.shape}, item_ids.shape={item_ids.shape}"
        )
    if labels.ndim not in (1, 2) or labels.shape[0] != user_ids.shape[0]:
        raise ValueError(
            f"Expected labels of shape ({user_ids.shape[0]},) or ({user_ids.shape[0]}, K). "
            f"Received: labels.shape={labels.shape}"
        )
    for name, ids, size in (("user_ids", user_ids, num_users), ("item_ids", item_ids, num_items)):
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"Expected integer {name}. Received: dtype={ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= size):
            raise ValueError(
                f"Expected {name} in [0, {size}). Received: min={ids.min()}, max={ids.max()}"
            )
    positive = (labels.reshape(labels.shape[0], -1) > 0).any(axis=1)  # (rows,)
    matrix = sp.csr_matrix(
        (np.ones(int(positive.sum())), (user_ids[positive], item_ids[positive])),
        shape=(int(num_users), int(num_items)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # repeated records of a pair are one edge
    matrix.sort_indices()
    return matrix


def top_k_cosine_similarity(
    interactions: sp.csr_matrix,
    top_k: int,
    *,
    block_size: int = 1024,
    max_rows_per_column: int | None = None,
    seed: int = 0,
) -> sp.csr_matrix:
    """Row-row cosine similarity of a 0/1 matrix, top-k per row, no self loops.

    sim(u, v) = C_uv / sqrt(deg_u deg_v), with C = M M^T computed as a sparse
    product block of rows by block of rows; each block keeps only its rows'
    top-k entries before the next block starts. Ties are broken by the
    smaller column id, so the result is deterministic.

    Cost: the product of a block touches, for every interaction (u, j) of a
    block row, every other row of column j, so the whole product costs
    sum_j deg_j^2 operations (deg_j: the rows of column j). With
    `max_rows_per_column = c` a column with more rows counts only a random c
    of them (similarity is then that of the subsampled matrix, degrees
    included), so the work is at most nnz * c. Peak memory is one block's
    product: at most min(block_size * num_rows, nnz_block * c) entries, with
    nnz_block the nonzeros of the block's rows.

    Args:
        interactions: `scipy.sparse` matrix `(num_rows, num_columns)`, 0/1.
        top_k: int >= 1, entries kept per row.
        block_size: int >= 1, rows per product block.
        max_rows_per_column: int >= 1 or `None` (no cap).
        seed: int, seed of the column subsampling.

    Returns:
        `scipy.sparse.csr_matrix` `(num_rows, num_rows)`, float64, at most
        `top_k` entries per row, zero diagonal.
    """
    if int(top_k) < 1:
        raise ValueError(f"Expected top_k >= 1. Received: top_k={top_k}")
    if int(block_size) < 1:
        raise ValueError(f"Expected block_size >= 1. Received: block_size={block_size}")
    if max_rows_per_column is not None and int(max_rows_per_column) < 1:
        raise ValueError(
            "Expected max_rows_per_column >= 1 or None. "
            f"Received: max_rows_per_column={max_rows_per_column}"
        )
    matrix = sp.csr_matrix(interactions, dtype="float64")
    matrix.data[:] = 1.0
    if max_rows_per_column is not None:
        matrix = _cap_rows_per_column(matrix, int(max_rows_per_column), seed)
    num_rows = matrix.shape[0]
    degrees = np.asarray(matrix.sum(axis=1)).ravel()  # (num_rows,)
    transposed = matrix.T.tocsr()  # (num_columns, num_rows)

    rows_out, cols_out, values_out = [], [], []
    for start in range(0, num_rows, int(block_size)):
        stop = min(start + int(block_size), num_rows)
        counts = (matrix[start:stop] @ transposed).tocoo()  # (block, num_rows) integer counts
        rows = counts.row.astype("int64") + start
        cols = counts.col.astype("int64")
        not_self = rows != cols
        rows, cols, counts = rows[not_self], cols[not_self], counts.data[not_self]
        # Exact integer counts over sqrt of an exact integer product: the same
        # float operations a dense reference does, so ties break the same way.
        values = counts / np.sqrt(degrees[rows] * degrees[cols])
        keep = _top_k_per_row(rows - start, cols, values, stop - start, int(top_k))
        rows_out.append(rows[keep])
        cols_out.append(cols[keep])
        values_out.append(values[keep])
    similarity = sp.csr_matrix(
        (np.concatenate(values_out), (np.concatenate(rows_out), np.concatenate(cols_out))),
        shape=(num_rows, num_rows),
    )
    similarity.sort_indices()
    return similarity


def to_sparse_tensor(matrix) -> tf.sparse.SparseTensor:
    """A `scipy.sparse` matrix as a canonically ordered float32 `tf.sparse.SparseTensor`."""
    coo = sp.coo_matrix(matrix)
    indices = np.stack([coo.row, coo.col], axis=1).astype("int64")  # (nnz, 2)
    tensor = tf.sparse.SparseTensor(indices, coo.data.astype("float32"), coo.shape)
    return tf.sparse.reorder(tensor)


def _top_k_per_row(rows, cols, values, num_rows, top_k):
    """Indices of the `top_k` largest values of each row (ties: smaller column)."""
    order = np.lexsort((cols, -values, rows))  # by row, then value descending, then column
    sorted_rows = rows[order]
    row_starts = np.concatenate([[0], np.cumsum(np.bincount(sorted_rows, minlength=num_rows))])
    rank = np.arange(order.size) - row_starts[sorted_rows]  # position within its row
    return order[rank < top_k]


def _cap_rows_per_column(matrix, cap, seed):
    """Keeps a random `cap` of the nonzeros of every column that has more."""
    coo = matrix.tocoo()
    keys = np.random.default_rng(seed).random(coo.nnz)
    order = np.lexsort((keys, coo.col))  # by column, random order within
    sorted_cols = coo.col[order]
    col_starts = np.concatenate(
        [[0], np.cumsum(np.bincount(sorted_cols, minlength=matrix.shape[1]))]
    )
    keep = order[np.arange(order.size) - col_starts[sorted_cols] < cap]
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)
