from zoo.api import register
from zoo.layers.gates.factory import serialize_gate
from zoo.layers.switchers.cgc import CGCSwitcher
from zoo.layers.switchers.ple import PLESwitcher
from zoo.models.multitask_model import MultiTaskModel


@register
class PLE(MultiTaskModel):
    """Progressive Layered Extraction: stacked CGC levels with task and shared experts.

    Args:
        tasks: list of tasks.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        num_levels: int >= 1, extraction levels.
        num_task_experts: int, or one int per task, experts owned by a task
            at each level.
        num_shared_experts: int, shared experts at each level.
        expert_units: list of int, hidden widths of every expert.
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

    References:
        Tang et al., "Progressive Layered Extraction (PLE): A Novel
        Multi-Task Learning (MTL) Model for Personalized Recommendations",
        RecSys 2020.
    """

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        num_levels=2,
        num_task_experts=2,
        num_shared_experts=4,
        expert_units=(32,),
        tower_units=(16,),
        gate_temperature=1.0,
        expert_batch_norm=False,
        dropout=0.0,
        tower_dropout=0.0,
        gate=None,
        **kwargs,
    ):
        self.num_levels = int(num_levels)
        self.num_task_experts = num_task_experts
        self.num_shared_experts = int(num_shared_experts)
        self.expert_units = [int(u) for u in expert_units]
        self.gate_temperature = gate_temperature
        self.expert_batch_norm = expert_batch_norm
        self.dropout = dropout
        self.gate = serialize_gate(gate)
        super().__init__(
            tasks,
            self._make_switcher(len(tasks)),
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            tower_dropout=tower_dropout,
            **kwargs,
        )

    def _make_switcher(self, num_tasks):
        return PLESwitcher(
            num_tasks,
            self.num_levels,
            self.num_task_experts,
            self.num_shared_experts,
            self.expert_units,
            gate_temperature=self.gate_temperature,
            expert_batch_norm=self.expert_batch_norm,
            dropout=self.dropout,
            gate=self.gate,
            name="switcher",
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_levels": self.num_levels,
                "num_task_experts": self.num_task_experts,
                "num_shared_experts": self.num_shared_experts,
                "expert_units": self.expert_units,
                "gate_temperature": self.gate_temperature,
                "expert_batch_norm": self.expert_batch_norm,
                "dropout": self.dropout,
                "gate": self.gate,
            }
        )
        return config


@register
class CGC(PLE):
    """Customized Gate Control: one PLE extraction level (task + shared experts).

    Arguments as `PLE`, without `num_levels`.

    References:
        Tang et al., RecSys 2020, section 4.2.
    """

    def __init__(self, tasks, **kwargs):
        kwargs.pop("num_levels", None)
        super().__init__(tasks, num_levels=1, **kwargs)

    def _make_switcher(self, num_tasks):
        return CGCSwitcher(
            num_tasks,
            self.num_task_experts,
            self.num_shared_experts,
            self.expert_units,
            gate_temperature=self.gate_temperature,
            expert_batch_norm=self.expert_batch_norm,
            dropout=self.dropout,
            gate=self.gate,
            name="switcher",
        )

    def get_config(self):
        config = super().get_config()
        config.pop("num_levels")
        return config
