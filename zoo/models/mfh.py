import keras
import numpy as np

from zoo.api import register
from zoo.layers.heads.group_routing import GroupRouting
from zoo.layers.switchers.facet_tree import FacetTreeSwitcher
from zoo.models.multitask_model import MultiTaskModel
from zoo.models.task_heads import GROUP_ROUTING_HEAD
from zoo.tasks import as_tasks


@register
class MFH(MultiTaskModel):
    """Multi-Faceted Hierarchical MTL: one head per (user group, task), routed by group.

    The tasks are the product of two facets: user groups (the values of
    `group_feature`, gathered into `groups`) and the tasks given. A tree of
    switchers (`zoo.layers.FacetTreeSwitcher`: a shared bottom, a two-level
    PLE over groups, a CGC level over tasks inside each group) ends in one tower
    per (group, task); towers may differ per group (`group_tower_units`).

    Each sample is routed to its own group's heads by a
    `zoo.layers.GroupRouting` head (which goes on other models too): the
    model's output for task t is the head (g(x), t) of the sample's group
    g(x). A sample's loss reaches only its group's heads, and the SavedModel
    answers under the task names (`pcr`, `long_view`, ...) whatever the
    group, plus every head as `<task>__<group>` for analysis.

    Ablations are configurations: `layout="h-mtl"` (hierarchical without the
    facets shaping the tree), `layout="flat"` (all heads at one level), and
    `group_tower_units=None` (the same towers for every group).

    Args:
        tasks: the task facet, e.g. `[Task("pcr", "regression"),
            Task("long_view"), Task("click")]`.
        features: `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `FeaturePreprocessor`; its vocabulary of
            `group_feature` says which id belongs to which group.
        group_feature: the categorical feature that assigns a sample to a
            user group, e.g. KuaiRand's `"user_active_degree"`.
        groups: dict from group name to the raw values of `group_feature` in
            it, e.g. `{"new": ["day_new"], "high": ["full_active",
            "high_active"]}`; `None`: each value in the vocabulary is a group.
        default_group: the group of values in no group: values first seen at
            serving time (the OOV bucket) and vocabulary values not listed.
            `None`: the first group takes OOV values, and an unlisted
            vocabulary value is an error.
        layout: `"mfh"`, `"h-mtl"` or `"flat"` (see `FacetTreeSwitcher`).
        bottom_units, group_experts, group_shared_experts, group_units,
            task_experts, task_shared_experts, task_units: the tree's sizes,
            the appendix's by default.
        group_level, task_level: the switcher at each facet level of the
            `"mfh"` layout: `"cgc"`, `"ple"`, `"mmoe"` or `"shared-bottom"`;
            the appendix's PLE over groups and CGC over tasks by default.
        dropout: dropout rate inside the tree's switchers (bottom, experts).
        tower_units: every head's tower widths unless `group_tower_units`
            names the group.
        group_tower_units: dict from group name to tower widths
            (heterogeneous towers), or `None`.
        heads: more heads: logit heads (`BiasLogit`); the routing is MFH's
            own, and output heads do not go with it.
        **kwargs: `MultiTaskModel` arguments.

    References:
        "Multi-Faceted Hierarchical Multi-Task Learning for Recommender
        Systems" (MFH) and its appendix, ../shared/papers/.
    """

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        group_feature="user_active_degree",
        groups=None,
        default_group=None,
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
        dropout=0.0,
        tower_units=(64,),
        group_tower_units=None,
        heads=(),
        **kwargs,
    ):
        if isinstance(preprocessor, dict):
            preprocessor = keras.layers.deserialize(preprocessor)
        if preprocessor is None:
            raise ValueError(
                "MFH needs the adapted preprocessor: its vocabulary of the group feature "
                "says which id belongs to which group."
            )
        groups = GroupRouting.groups_of_values(preprocessor, group_feature, groups)
        unknown = sorted(set(group_tower_units or {}) - set(groups))
        if unknown:
            raise ValueError(
                f"group_tower_units names {unknown}, which are not groups: {list(groups)}"
            )
        routing = GroupRouting.from_preprocessor(
            preprocessor,
            group_feature,
            groups=groups,
            default_group=default_group,
            tower_units=group_tower_units,
            name=GROUP_ROUTING_HEAD,
        )
        self.group_feature = group_feature
        self.groups = groups
        self.default_group = default_group
        self.facet_tasks = as_tasks(tasks)
        self.layout = layout
        self.group_tower_units = routing.tower_units
        switcher = FacetTreeSwitcher(
            len(routing.groups),
            len(self.facet_tasks),
            layout=layout,
            bottom_units=bottom_units,
            group_experts=group_experts,
            group_shared_experts=group_shared_experts,
            group_units=group_units,
            task_experts=task_experts,
            task_shared_experts=task_shared_experts,
            task_units=task_units,
            group_level=group_level,
            task_level=task_level,
            dropout=dropout,
            name="switcher",
        )
        super().__init__(
            self.facet_tasks,
            switcher,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            heads=[*heads, routing],
            **kwargs,
        )

    @property
    def group_index_by_id(self):
        """Group index of every id the preprocessor gives the group feature (OOV ids first)."""
        return np.asarray(self.routing_head.group_of_id, "int32")

    def group_of(self, inputs):
        """`(batch,)` group index of each sample, from the preprocessed group feature."""
        return self.routing_head.group_of(inputs)

    def _display_name(self, name):
        # Gate and expert names of the tree say "group_g" and "task_k"; show
        # the group, task or head they stand for.
        groups = list(self.groups)
        heads = self.branch_names()
        parts = name.split("/")
        for i, part in enumerate(parts):
            if part.startswith("group_") and part[6:].isdigit():
                parts[i] = groups[int(part[6:])]
            elif part.startswith("task_") and part[5:].isdigit():
                k = int(part[5:])
                if self.layout != "mfh":
                    parts[i] = heads[k]
                elif parts[0] == "groups":
                    parts[i] = groups[k]
                else:
                    parts[i] = self.facet_tasks[k].name
        return "/".join(parts)

    def get_config(self):
        config = super().get_config()
        switcher = self.switcher
        config.update(
            {
                "group_feature": self.group_feature,
                "groups": self.groups,
                "default_group": self.default_group,
                "layout": self.layout,
                "bottom_units": switcher.bottom_units,
                "group_experts": switcher.group_experts,
                "group_shared_experts": switcher.group_shared_experts,
                "group_units": switcher.group_units,
                "task_experts": switcher.task_experts,
                "task_shared_experts": switcher.task_shared_experts,
                "task_units": switcher.task_units,
                "group_level": switcher.group_level_kind,
                "task_level": switcher.task_level_kind,
                "dropout": switcher.dropout,
                "group_tower_units": self.group_tower_units,
            }
        )
        return config
