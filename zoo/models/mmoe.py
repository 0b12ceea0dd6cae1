from zoo.api import register
from zoo.layers.gates.factory import serialize_gate
from zoo.layers.switchers.mmoe import MMoESwitcher
from zoo.models.multitask_model import MultiTaskModel


@register
class MMoE(MultiTaskModel):
    """Multi-gate Mixture-of-Experts: shared experts, one gate per task.

    h_k = sum_i softmax(W_k x)_i f_i(x), y_k = tower_k(h_k).

    Args:
        tasks: list of tasks.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        num_experts: int, the number of experts N.
        expert_units: list of int, hidden widths of each expert.
        tower_units: list of int, widths of each task's tower.
        gate_temperature: float > 0, softmax temperature of the default gates.
        gate: the gates' kind: `None` for softmax gates with
            `gate_temperature`, a gate name from `zoo.registry.GATES`
            (`"noisy-top-k"`), a config dict or a prototype gate layer (see
            `zoo.layers.gates.factory`).
        expert_batch_norm: bool, BatchNormalization inside every expert, as
            torch-rechub does (see `zoo.layers.Experts`).
        dropout: float, dropout inside the experts.
        tower_dropout: float, dropout in the towers.
        **kwargs: `keras.Model` keyword arguments.

    Example:
    ```python
    model = zoo.models.MMoE(tasks=["income", "never_married"], preprocessor=preprocessor,
                            num_experts=8, expert_units=[32], tower_units=[16])
    model.compile()
    model.fit(train_ds, validation_data=val_ds, epochs=5)
    ```

    References:
        Ma et al., "Modeling Task Relationships in Multi-task Learning with
        Multi-gate Mixture-of-Experts", KDD 2018.
    """

    # OMoE reuses this class with one gate; see zoo.models.OMoE.
    num_gates = None

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        num_experts=8,
        expert_units=(32,),
        tower_units=(16,),
        gate_temperature=1.0,
        expert_batch_norm=False,
        dropout=0.0,
        tower_dropout=0.0,
        gate=None,
        **kwargs,
    ):
        self.num_experts = int(num_experts)
        self.expert_units = [int(u) for u in expert_units]
        self.gate_temperature = gate_temperature
        self.expert_batch_norm = expert_batch_norm
        self.dropout = dropout
        self.gate = serialize_gate(gate)
        switcher = MMoESwitcher(
            len(tasks),
            self.num_experts,
            self.expert_units,
            num_gates=self.num_gates,
            gate_temperature=gate_temperature,
            expert_batch_norm=expert_batch_norm,
            dropout=dropout,
            gate=self.gate,
            name="switcher",
        )
        super().__init__(
            tasks,
            switcher,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            tower_dropout=tower_dropout,
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_experts": self.num_experts,
                "expert_units": self.expert_units,
                "gate_temperature": self.gate_temperature,
                "expert_batch_norm": self.expert_batch_norm,
                "dropout": self.dropout,
                "gate": self.gate,
            }
        )
        return config


@register
class OMoE(MMoE):
    """One-gate Mixture-of-Experts: the experts of MMoE under a single gate.

    h = sum_i softmax(W x)_i f_i(x) is shared by every task's tower; the MMoE
    paper's baseline for what a per-task gate adds. Arguments as `MMoE`.
    """

    num_gates = 1
