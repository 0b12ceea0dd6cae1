import numpy as np

from zoo.losses.divergence import extended_jsd_loss


def test_extended_jsd_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], "float32")
    by_hand = (
        # m = mean of the rows = (0.4, 0.25, 0.35)
        (0.4 * np.log(0.4) + 0.25 * np.log(0.25) + 0.35 * np.log(0.35))
        - 0.5 * (0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))
        - 0.5 * (0.1 * np.log(0.1) + 0.3 * np.log(0.3) + 0.6 * np.log(0.6))
    )
    np.testing.assert_allclose(float(extended_jsd_loss(p)), by_hand, rtol=1e-5)
    assert by_hand < 0  # different choices: negative divergence


def test_zero_when_every_task_agrees_and_lowest_when_disjoint():
    same = np.array([[0.5, 0.5, 0.0, 0.0]] * 3, "float32")
    np.testing.assert_allclose(float(extended_jsd_loss(same)), 0.0, atol=1e-6)
    # Three tasks on three disjoint experts: -JSD = -log(3), its minimum.
    disjoint = np.eye(3, dtype="float32")
    np.testing.assert_allclose(float(extended_jsd_loss(disjoint)), -np.log(3), rtol=1e-5)
