"""The operations a searched block may choose from, by name.

A candidate is named `base` or `base-N` (`"skip"`, `"mlp-64"`, `"cross-2"`):
`CANDIDATES[base]` says how to build the layer from N and the block's width,
and whether it reads the fields apart (`(batch, fields, dim)`) or the
flattened vector. Every candidate maps its input to a vector of the block's
width, which is what lets a block mix them and lets the derived model stack
whichever one wins.

Adding a candidate is one layer class and one line here; the default lists
below are the AutoMTL paper's Table 1 and are plain configuration.

`mlp-N` is a hidden layer of N units and then the block's width: two dense
layers. Table 1 gives only "MLP" and the hidden sizes; the authors' code
(automtl/AutoMTL, `src/blocks/ops.py`) says what a block is: "This block
applies MLP with one hidden layer", a linear layer to `hidden_size` and then
one to `block_out_dim`, each followed by batch norm and ReLU. The output
layer is what lets every candidate of a block return the same width. We
leave out the batch norm, as the zoo's other blocks do.
"""

import dataclasses
from collections.abc import Callable

import keras

from zoo.layers.core.bit_gate import BitGate
from zoo.layers.core.mlp import MLP
from zoo.layers.experts.vector_conv import VectorConv1D
from zoo.layers.interactions.cross_network import CrossNetwork
from zoo.layers.interactions.field_attention import FieldSelfAttention
from zoo.layers.interactions.product_layer import ProductLayer


@dataclasses.dataclass(frozen=True)
class Candidate:
    """How to build one kind of candidate.

    Attributes:
        make: `make(number, width, name)` -> a Keras layer whose output is
            `(batch, width)`; `number` is the N of `base-N` or `None`.
        takes_fields: the layer reads `(batch, fields, dim)`; only the
            feature-interaction block, which sees the fields, can hold it.
        needs_number: `base-N` is required (`"mlp"` alone means nothing).
    """

    make: Callable
    takes_fields: bool = False
    needs_number: bool = False


CANDIDATES = {
    "skip": Candidate(lambda n, width, name: keras.layers.Identity(name=name)),
    "inner-product": Candidate(
        lambda n, width, name: ProductLayer("inner", width, name=name), takes_fields=True
    ),
    "outer-product": Candidate(
        lambda n, width, name: ProductLayer("outer", width, name=name), takes_fields=True
    ),
    "cross": Candidate(lambda n, width, name: CrossNetwork(n, name=name), needs_number=True),
    "attention": Candidate(
        lambda n, width, name: FieldSelfAttention(n, name=name),
        takes_fields=True,
        needs_number=True,
    ),
    "mlp": Candidate(lambda n, width, name: MLP([n, width], name=name), needs_number=True),
    "bit-gate": Candidate(lambda n, width, name: BitGate(name=name)),
    "conv1d": Candidate(lambda n, width, name: VectorConv1D(n, name=name), needs_number=True),
}

# AutoMTL, Table 1.
INTERACTION_OPS = (
    ["skip", "inner-product", "outer-product"]
    + [f"cross-{n}" for n in (1, 2, 3, 4)]
    + [f"attention-{n}" for n in (1, 2, 4, 8)]
    + [f"mlp-{n}" for n in (64, 128, 256, 512, 1024)]
)
EXPERT_OPS = (
    ["skip", "bit-gate"]
    + [f"mlp-{n}" for n in (16, 32, 64, 128, 256, 512, 1024)]
    + [f"conv1d-{n}" for n in (3, 5, 7)]
)


def parse_candidate(name):
    """`(base, number)` of a candidate name, checked against `CANDIDATES`."""
    base, number = name, None
    head, sep, tail = name.rpartition("-")
    if sep and tail.isdigit() and head in CANDIDATES:
        base, number = head, int(tail)
    if base not in CANDIDATES:
        raise ValueError(
            f"Unknown candidate operation {name!r}. Known: "
            f"{', '.join(b + ('-N' if c.needs_number else '') for b, c in CANDIDATES.items())}"
        )
    if CANDIDATES[base].needs_number and number is None:
        raise ValueError(f"Candidate {name!r} needs a number, e.g. {base}-2.")
    if number is not None and not CANDIDATES[base].needs_number:
        raise ValueError(f"Candidate {base!r} takes no number. Received: {name!r}")
    return base, number


def takes_fields(name):
    """Whether the candidate reads the fields apart (feature-interaction blocks only)."""
    return CANDIDATES[parse_candidate(name)[0]].takes_fields


def make_candidate(name, width, layer_name=None):
    """The layer of candidate `name` for a block of output width `width`."""
    base, number = parse_candidate(name)
    return CANDIDATES[base].make(number, int(width), layer_name or name.replace("-", "_"))
