import keras
import numpy as np
from keras import ops

from zoo.api import register
from zoo.layers.switchers.facet_tree import FacetTreeSwitcher
from zoo.layers.towers.tower import Tower
from zoo.models.multitask_model import MultiTaskModel
from zoo.tasks import as_tasks


@register
class MFH(MultiTaskModel):
    """Multi-Faceted Hierarchical MTL: one head per (user group, task), routed by group.

    The tasks are the product of two facets: user groups (the values of
    `group_feature`, gathered into `groups`) and the tasks given. A tree of
    switchers (`zoo.layers.FacetTreeSwitcher`: a shared bottom, a CGC level
    over groups, a CGC level over tasks inside each group) ends in one tower
    per (group, task); towers may differ per group (`group_tower_units`).

    Each sample is routed to its own group's heads: the model's output for
    task t is the head (g(x), t) of the sample's group g(x), selected inside
    the model from the group feature. So a sample's loss reaches only its
    group's heads (the other heads get exactly zero gradient), training
    data need no per-group labels, and the SavedModel answers under the
    task names (`pcr`, `long_view`, ...) whatever the group, plus every head
    as `<task>__<group>` for analysis.

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
            `"mfh"` layout: `"cgc"` (default), `"ple"`, `"mmoe"` or
            `"shared-bottom"`.
        tower_units: every head's tower widths unless `group_tower_units`
            names the group.
        group_tower_units: dict from group name to tower widths
            (heterogeneous towers), or `None`.
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
        group_level="cgc",
        task_level="cgc",
        tower_units=(64,),
        group_tower_units=None,
        **kwargs,
    ):
        if isinstance(preprocessor, dict):
            preprocessor = keras.layers.deserialize(preprocessor)
        if preprocessor is None:
            raise ValueError(
                "MFH needs the adapted preprocessor: its vocabulary of the group feature "
                "says which id belongs to which group."
            )
        self.group_feature = group_feature
        self.group_values = _group_values(preprocessor, group_feature)
        if groups is None:
            groups = {str(value): [value] for value in self.group_values}
        self.groups = {str(name): list(values) for name, values in dict(groups).items()}
        if not self.groups:
            raise ValueError("Expected at least one group. Received: groups={}")
        bad = [name for name in self.groups if not name.replace("_", "").isalnum()]
        if bad:
            raise ValueError(
                f"Group names {bad} must be letters, digits and underscores: they become "
                "SavedModel output names (<task>__<group>)."
            )
        if default_group is not None and default_group not in self.groups:
            raise ValueError(
                f"default_group={default_group!r} is not a group; the groups are "
                f"{list(self.groups)}"
            )
        self.default_group = default_group
        self.group_index_by_id = self._group_index_by_id(preprocessor)
        self.facet_tasks = as_tasks(tasks)
        self.layout = layout
        self.group_tower_units = (
            None
            if group_tower_units is None
            else {str(g): [int(u) for u in units] for g, units in group_tower_units.items()}
        )
        unknown = sorted(set(self.group_tower_units or {}) - set(self.groups))
        if unknown:
            raise ValueError(
                f"group_tower_units names {unknown}, which are not groups: {list(self.groups)}"
            )
        switcher = FacetTreeSwitcher(
            len(self.groups),
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
            name="switcher",
        )
        super().__init__(
            self.facet_tasks,
            switcher,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            **kwargs,
        )
        if group_feature not in [f["name"] for f in self.features]:
            raise ValueError(f"group_feature={group_feature!r} is not a feature of the model")

    # -- groups ---------------------------------------------------------------

    def _group_index_by_id(self, preprocessor):
        """Group index of every id the preprocessor gives the group feature (OOV ids first)."""
        feature = next(f for f in preprocessor.features if f.name == self.group_feature)
        names = list(self.groups)
        group_of_value = {}
        for name, values in self.groups.items():
            for value in values:
                if value in group_of_value:
                    raise ValueError(
                        f"Value {value!r} is in groups {group_of_value[value]!r} and {name!r}"
                    )
                group_of_value[value] = name
        fallback = self.default_group or names[0]
        index = [names.index(fallback)] * feature.num_oov_indices
        for value in self.group_values:
            name = group_of_value.get(value, self.default_group)
            if name is None:
                raise ValueError(
                    f"{self.group_feature} value {value!r} (in the training vocabulary) is in no "
                    f"group; add it to groups or set default_group. Groups: {self.groups}"
                )
            index.append(names.index(name))
        return np.asarray(index, "int32")

    def group_of(self, inputs):
        """`(batch,)` group index of each sample, from the preprocessed group feature."""
        ids = ops.reshape(ops.cast(inputs[self.group_feature], "int32"), (-1,))
        return ops.take(ops.convert_to_tensor(self.group_index_by_id), ids)

    # -- heads ------------------------------------------------------------------

    def num_branches(self):
        return len(self.groups) * len(self.facet_tasks)

    def make_towers(self):
        towers = {}
        for group in self.groups:
            units = (self.group_tower_units or {}).get(group, self.tower_units)
            for t in self.facet_tasks:
                towers[_head_name(t.name, group)] = Tower(
                    units,
                    output_units=self.tower_output_units(t),
                    dropout=self.tower_dropout,
                    name=f"tower_{_head_name(t.name, group)}",
                )
        return towers

    def all_head_logits(self, inputs, training=None):
        """Dict from `<task>__<group>` to that head's logits, for every group."""
        branches = self.task_representations(inputs, training=training)
        names = [_head_name(t.name, g) for g in self.groups for t in self.facet_tasks]
        return {name: self.towers[name](h, training=training) for name, h in zip(names, branches)}

    def head_logits(self, inputs, training=None):
        return self._own_group_heads(self.all_head_logits(inputs, training=training), inputs)

    def _own_group_heads(self, heads, inputs):
        # One-hot selection: the heads of other groups are multiplied by 0,
        # so a sample's loss gives them exactly zero gradient.
        chosen = ops.one_hot(self.group_of(inputs), len(self.groups))  # (batch, G)
        logits = {}
        for t in self.facet_tasks:
            stacked = ops.stack([heads[_head_name(t.name, g)] for g in self.groups], axis=1)
            logits[t.name] = ops.sum(stacked * chosen[:, :, None], axis=1)
        return logits

    def outputs_with_extras(self, inputs):
        heads = self.all_head_logits(inputs, training=False)
        logits = self.apply_heads(self._own_group_heads(heads, inputs), inputs, training=False)
        outputs = {name: self.output_activation(name, z) for name, z in logits.items()}
        for name, z in heads.items():
            outputs[name] = self.output_activation(name.split("__")[0], z)
        return outputs

    def _display_name(self, name):
        # Gate and expert names of the tree say "group_g" and "task_k"; show
        # the group, task or head they stand for.
        groups = list(self.groups)
        heads = [_head_name(t.name, g) for g in groups for t in self.facet_tasks]
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
                "group_tower_units": self.group_tower_units,
            }
        )
        return config


def _head_name(task, group):
    return f"{task}__{group}"


def _group_values(preprocessor, group_feature):
    feature = next((f for f in preprocessor.features if f.name == group_feature), None)
    if feature is None or feature.kind != "categorical" or feature.num_hash_bins is not None:
        raise ValueError(
            f"group_feature={group_feature!r} must be a categorical feature with a vocabulary; "
            f"the features are {[f.name for f in preprocessor.features]}"
        )
    vocabulary = feature.vocabulary or preprocessor.vocabularies.get(group_feature)
    if vocabulary is None:
        raise ValueError("The preprocessor is not adapted: call adapt() on training data first.")
    # Plain str / int (numpy scalars would show as np.str_('x') in messages and configs).
    return [v.item() if isinstance(v, np.generic) else v for v in vocabulary]
