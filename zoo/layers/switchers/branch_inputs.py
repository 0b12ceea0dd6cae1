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
