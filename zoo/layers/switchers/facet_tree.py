from zoo.api import register
from zoo.layers.core.mlp import MLP
from zoo.layers.switchers.cgc import CGCSwitcher
from zoo.layers.switchers.mmoe import MMoESwitcher
from zoo.layers.switchers.ple import PLESwitcher
from zoo.layers.switchers.shared_bottom import SharedBottomSwitcher
from zoo.layers.switchers.switcher import Switcher

LAYOUTS = ("mfh", "h-mtl", "flat")
LEVEL_KINDS = ("cgc", "ple", "mmoe", "shared-bottom")


def make_level(kind, num_branches, experts, shared_experts, units, name, next_units=None, **common):
    """One level of the tree: a zoo switcher with `num_branches` outputs.

    `experts` is per branch and `shared_experts` shared (CGC, and PLE's two
    levels); MMoE gets `experts * num_branches + shared_experts` experts
    under per-branch gates; shared-bottom one MLP of `units` for all. PLE's
    first extraction level has experts of `units`, its second of
    `next_units` (default `units`), as the appendix sizes MFH's group level:
    256, then 128.
    """
    if kind == "cgc":
        return CGCSwitcher(num_branches, experts, shared_experts, units, name=name, **common)
    if kind == "ple":
        widths = [list(units), list(next_units or units)]
        return PLESwitcher(num_branches, 2, experts, shared_experts, widths, name=name, **common)
    if kind == "mmoe":
        total = experts * num_branches + shared_experts
        return MMoESwitcher(num_branches, total, units, name=name, **common)
    if kind == "shared-bottom":
        return SharedBottomSwitcher(num_branches, units, name=name, **common)
    raise ValueError(f"Expected a level kind in {LEVEL_KINDS}. Received: {kind!r}")


@register
class FacetTreeSwitcher(Switcher):
    """MFH's tree of switchers: one level per facet, group x task branches out.

    With two facets, user groups (G values) and tasks (T), the output has
    one branch per (group, task), group-major: branch `g * T + t`. The tree
    is built from the zoo's own switchers, composed:

    - `"mfh"` (multi-faceted hierarchical, the appendix's best): a shared
      bottom MLP, then a level with one branch per group (`group_level`:
      PLE by default, its own experts per group plus shared ones, two
      extraction levels of `group_units` then `task_units` wide), then
      inside each group's branch a level with one branch per task
      (`task_level`, CGC by default). Either level may be any of
      `"cgc"`, `"ple"`, `"mmoe"`, `"shared-bottom"`. The defaults are the
      appendix's section 4: "for the level 1 switchers, PLE is adopted, 2
      experts for each of the three customized branches and 2 shared
      experts ... the first level PLE expert uses a single-layer MLP of
      size 256 and the second level expert uses a single-layer MLP of size
      128; for the level 2 switchers, CGC is adopted, 1 expert for each of
      the three customized branches and 1 shared expert".
    - `"h-mtl"` (hierarchical, not multi-faceted): the shared bottom, then a
      two-level PLE over all G x T branches at once, with the group level's
      and the task level's sizes; the facets do not shape the tree.
    - `"flat"`: the shared bottom, then one CGC level over all G x T
      branches.

    Args:
        num_groups: G, the values of the outer facet (user groups).
        num_facet_tasks: T, the tasks inside each group.
        layout: `"mfh"`, `"h-mtl"` or `"flat"`.
        bottom_units: widths of the shared bottom (level 0); the appendix's
            (512,).
        group_experts, group_shared_experts, group_units: the group level:
            experts per group branch (2), shared experts (2), their widths
            ((256,); a PLE group level's second extraction level takes
            `task_units`).
        task_experts, task_shared_experts, task_units: the task level inside
            a group: experts per task (1), shared (1), widths ((128,)).
        **kwargs: `Switcher` arguments (activation, dropout, ...).

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool.
        return_gate_weights: also return the gate weights, by gate name.

    Returns:
        A list of G * T tensors, group-major.
    """

    def __init__(
        self,
        num_groups,
        num_facet_tasks,
        layout="mfh",
        bottom_units=(512,),
        group_experts=2,
        group_shared_experts=2,
        group_units=(256,),
        task_experts=1,
        task_shared_experts=1,
        task_units=(128,),
        group_level="ple",
        task_level="cgc",
        **kwargs,
    ):
        if layout not in LAYOUTS:
            raise ValueError(f"Expected layout in {LAYOUTS}. Received: layout={layout!r}")
        self.num_groups = int(num_groups)
        self.num_facet_tasks = int(num_facet_tasks)
        kwargs.pop("num_tasks", None)  # a config carries it; it is G x T here
        super().__init__(self.num_groups * self.num_facet_tasks, **kwargs)
        self.layout = layout
        self.bottom_units = [int(u) for u in bottom_units]
        self.group_experts = int(group_experts)
        self.group_shared_experts = int(group_shared_experts)
        self.group_units = [int(u) for u in group_units]
        self.task_experts = int(task_experts)
        self.task_shared_experts = int(task_shared_experts)
        self.task_units = [int(u) for u in task_units]
        self.group_level_kind = group_level
        self.task_level_kind = task_level
        common = {
            "activation": self.activation,
            "dropout": self.dropout,
            "kernel_regularizer": self.kernel_regularizer,
            "seed": self.seed,
        }
        self.bottom = MLP(self.bottom_units, name="bottom", **common)
        branches = self.num_groups * self.num_facet_tasks
        if layout == "mfh":
            self.group_level = make_level(
                group_level,
                self.num_groups,
                self.group_experts,
                self.group_shared_experts,
                self.group_units,
                "groups",
                next_units=self.task_units,
                **common,
            )
            self.task_levels = [
                make_level(
                    task_level,
                    self.num_facet_tasks,
                    self.task_experts,
                    self.task_shared_experts,
                    self.task_units,
                    f"group_{g}_tasks",
                    **common,
                )
                for g in range(self.num_groups)
            ]
        elif layout == "h-mtl":
            self.levels = PLESwitcher(
                branches,
                num_levels=2,
                num_task_experts=self.task_experts,
                num_shared_experts=self.group_shared_experts,
                expert_units=[self.group_units, self.task_units],
                name="levels",
                **common,
            )
        else:
            self.levels = CGCSwitcher(
                branches,
                self.task_experts,
                self.group_shared_experts,
                self.group_units,
                name="levels",
                **common,
            )

    def build(self, input_shape):
        self.bottom.build(input_shape)
        shape = (None, self.bottom_units[-1]) if self.bottom_units else tuple(input_shape)
        if self.layout == "mfh":
            self.group_level.build(shape)
            for level in self.task_levels:
                level.build((None, self._group_level_width()))
        else:
            self.levels.build(shape)

    def _group_level_width(self):
        """The width of each group branch: the group level's last experts."""
        units = self.task_units if self.group_level_kind == "ple" else self.group_units
        return units[-1]

    def call(self, inputs, training=None, return_gate_weights=False):
        x = self.bottom(inputs, training=training)
        if self.layout != "mfh":
            return self.levels(x, training=training, return_gate_weights=return_gate_weights)
        groups, weights = self.group_level(x, training=training, return_gate_weights=True)
        gate_weights = {f"groups/{name}": w for name, w in weights.items()}
        outputs = []
        for g, (level, h) in enumerate(zip(self.task_levels, groups)):
            per_task, weights = level(h, training=training, return_gate_weights=True)
            outputs.extend(per_task)
            gate_weights.update({f"group_{g}/{name}": w for name, w in weights.items()})
        return (outputs, gate_weights) if return_gate_weights else outputs

    def shared_weights(self):
        return list(self.bottom.trainable_weights)

    def gate_expert_names(self):
        if self.layout != "mfh":
            return self.levels.gate_expert_names()
        names = {
            f"groups/{gate}": [f"groups/{e}" for e in experts]
            for gate, experts in self.group_level.gate_expert_names().items()
        }
        for g, level in enumerate(self.task_levels):
            names.update(
                {
                    f"group_{g}/{gate}": [f"group_{g}/{e}" for e in experts]
                    for gate, experts in level.gate_expert_names().items()
                }
            )
        return names

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_groups": self.num_groups,
                "num_facet_tasks": self.num_facet_tasks,
                "layout": self.layout,
                "bottom_units": self.bottom_units,
                "group_experts": self.group_experts,
                "group_shared_experts": self.group_shared_experts,
                "group_units": self.group_units,
                "task_experts": self.task_experts,
                "task_shared_experts": self.task_shared_experts,
                "task_units": self.task_units,
                "group_level": self.group_level_kind,
                "task_level": self.task_level_kind,
            }
        )
        return config
