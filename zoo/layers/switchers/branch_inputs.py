"""How a switcher reads its input: one tensor for all branches, or one each."""


def branch_inputs(inputs, num_branches, layer_name):
    """Returns a list of `num_branches` tensors.

    A single tensor is shared by every branch (the bottom of a model); a
    list or tuple must hold exactly one tensor per branch (a switcher stacked
    on another one, as PLE's levels and MFH's tree are).
    """
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != num_branches:
            raise ValueError(
                f"{layer_name} expected a single tensor or a list of {num_branches} "
                f"tensors. Received a list of {len(inputs)}."
            )
        return list(inputs)
    return [inputs] * num_branches


def branch_shapes(input_shape, num_branches):
    """The `build()` counterpart of `branch_inputs`: one shape per branch.

    A single shape may arrive as a list (shapes round-trip through JSON when
    a model is reloaded), so a list of shapes is recognized by its first
    element being a shape itself.
    """
    is_nested = (
        isinstance(input_shape, (list, tuple))
        and len(input_shape) > 0
        and isinstance(input_shape[0], (list, tuple))
    )
    if is_nested:
        if len(input_shape) != num_branches:
            raise ValueError(f"Expected {num_branches} input shapes. Received: {input_shape}")
        return [tuple(s) for s in input_shape]
    return [tuple(input_shape)] * num_branches
