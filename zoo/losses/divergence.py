"""Divergences between the distributions tasks put over shared experts."""

from keras import ops


def extended_jsd_loss(probabilities, epsilon=1e-12):
    """AutoMTL's auxiliary loss: the negative extended Jensen-Shannon divergence.

    L_JSD = sum_i m_i log m_i - (1/K) sum_k sum_i p_i^(k) log p_i^(k), with
    m = (1/K) sum_k p^(k): the entropy of each task's distribution over the
    experts, averaged, minus the entropy of their mean. It is <= 0 and
    reaches 0 when every task picks the same experts; minimizing it pushes
    the tasks towards different experts.

    Args:
        probabilities: `(num_tasks, num_experts)`, each row a distribution.
        epsilon: added inside the logarithms, so an exact 0 adds 0.

    Returns:
        Scalar tensor.

    References:
        "AutoMTL: Automatic Multi-Task Learning Framework with Neural
        Architecture Search for Recommender Systems", section 3.4.2; Lin,
        "Divergence measures based on the Shannon entropy", 1991.
    """
    mean = ops.mean(probabilities, axis=0)
    mean_term = ops.sum(mean * ops.log(mean + epsilon))
    task_terms = ops.sum(probabilities * ops.log(probabilities + epsilon), axis=1)
    return mean_term - ops.mean(task_terms)
