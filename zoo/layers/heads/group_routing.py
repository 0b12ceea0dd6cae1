import keras
import numpy as np
from keras import ops

from zoo.api import register


@register
class GroupRouting(keras.layers.Layer):
    """A head that gives each user group its own towers and routes every sample to its group's.

    With it, the model's switcher has one branch per (group, task), each
    with a tower named `<task>__<group>` (towers may differ per group), and
    the model's logits for task t are those of the tower (t, g(x)) of the
    sample's group g(x), read from the group feature inside the model. A
    sample's loss reaches only its group's towers (the others get exactly
    zero gradient), training data need no per-group labels, and serving
    answers under the task names whatever the group, plus every tower as
    `<task>__<group>` for analysis. MFH's facet tree ends in it; on MMoE or
    PLE it gives per-group towers over shared experts.

    Build it with `GroupRouting.from_preprocessor`, which reads the group
    feature's vocabulary.

    Args:
        group_feature: the categorical feature that assigns a sample to a
            group, e.g. KuaiRand's `"user_active_degree"`.
        groups: names of the groups, in order (letters, digits and
            underscores: they become SavedModel output names).
        group_of_id: the group index of every id the preprocessor gives the
            group feature, OOV ids first.
        tower_units: dict from group name to its towers' widths; groups not
            named use the model's `tower_units`. `None`: the same towers for
            every group.
        **kwargs: base layer keyword arguments (`name`).

    Call arguments:
        logits: dict from branch name (`<task>__<group>`) to its tower's
            logits.
        inputs: dict of preprocessed features.
        training: bool.

    Returns:
        Dict from task name to the own group's logits, and from every
        branch name to its logits.

    References:
        "Multi-Faceted Hierarchical Multi-Task Learning for Recommender
        Systems" (MFH), ../shared/papers/.
    """

    known_at_serving = True
    routes = True

    def __init__(self, group_feature, groups, group_of_id, tower_units=None, **kwargs):
        super().__init__(**kwargs)
        self.group_feature = str(group_feature)
        self.groups = [str(g) for g in groups]
        if not self.groups:
            raise ValueError(f"{self.name}: expected at least one group. Received: groups=[]")
        bad = [g for g in self.groups if not g.replace("_", "").isalnum()]
        if bad:
            raise ValueError(
                f"{self.name}: group names {bad} must be letters, digits and underscores: they "
                "become SavedModel output names (<task>__<group>)."
            )
        self.group_of_id = [int(i) for i in group_of_id]
        out_of_range = sorted({i for i in self.group_of_id if not 0 <= i < len(self.groups)})
        if out_of_range:
            raise ValueError(
                f"{self.name}: group_of_id holds {out_of_range}, not indices of the groups "
                f"{self.groups}"
            )
        self.tower_units = (
            None
            if tower_units is None
            else {str(g): [int(u) for u in units] for g, units in tower_units.items()}
        )
        unknown = sorted(set(self.tower_units or {}) - set(self.groups))
        if unknown:
            raise ValueError(
                f"{self.name}: tower_units names {unknown}, which are not groups: {self.groups}"
            )
        self.task_names = None
        self._branches = {}

    @classmethod
    def from_preprocessor(
        cls, preprocessor, group_feature, groups=None, default_group=None, **kwargs
    ):
        """The head for an adapted preprocessor, with groups given by raw values.

        Args:
            preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
            group_feature: a categorical feature with a vocabulary.
            groups: dict from group name to the raw values of `group_feature`
                in it, e.g. `{"new": ["day_new"], "high": ["full_active",
                "high_active"]}`; `None`: each vocabulary value is a group.
            default_group: the group of values in no group: values first
                seen at serving time (the OOV ids) and vocabulary values not
                listed. `None`: the first group takes OOV ids, and an
                unlisted vocabulary value is an error.
            **kwargs: the other arguments (`tower_units`, `name`).
        """
        values = vocabulary_values(preprocessor, group_feature)
        groups = cls.groups_of_values(preprocessor, group_feature, groups)
        if not groups:
            raise ValueError("Expected at least one group. Received: groups={}")
        if default_group is not None and default_group not in groups:
            raise ValueError(
                f"default_group={default_group!r} is not a group; the groups are {list(groups)}"
            )
        group_of_value = {}
        for name, members in groups.items():
            for value in members:
                if value in group_of_value:
                    raise ValueError(
                        f"Value {value!r} is in groups {group_of_value[value]!r} and {name!r}"
                    )
                group_of_value[value] = name
        names = list(groups)
        feature = next(f for f in preprocessor.features if f.name == group_feature)
        index = [names.index(default_group or names[0])] * feature.num_oov_indices
        for value in values:
            name = group_of_value.get(value, default_group)
            if name is None:
                raise ValueError(
                    f"{group_feature} value {value!r} (in the training vocabulary) is in no "
                    f"group; add it to groups or set default_group. Groups: {groups}"
                )
            index.append(names.index(name))
        return cls(group_feature, names, index, **kwargs)

    @staticmethod
    def groups_of_values(preprocessor, group_feature, groups=None):
        """`groups` as a dict from group name to raw values; `None`: each vocabulary value a
        group of its own."""
        if groups is None:
            values = vocabulary_values(preprocessor, group_feature)
            return {str(value): [value] for value in values}
        return {str(name): list(members) for name, members in dict(groups).items()}

    @property
    def feature_names(self):
        return [self.group_feature]

    def bind(self, features, tasks):
        """Checks the group feature against a model's features; returns `self`."""
        kinds = {f["name"]: f["kind"] for f in features}
        if kinds.get(self.group_feature) != "categorical":
            raise ValueError(
                f"{self.name}: group_feature={self.group_feature!r} is not a categorical "
                f"feature of the model; the features are {list(kinds)}"
            )
        self.task_names = [t.name for t in tasks]
        # By lookup, not by splitting the name: a task or group may hold "__" itself.
        self._branches = {branch_name(t, g): (t, g) for g in self.groups for t in self.task_names}
        clashes = sorted(set(self.branch_names()) & set(self.task_names))
        if clashes:
            raise ValueError(f"{self.name}: task names {clashes} clash with tower names")
        return self

    def num_branches(self, num_tasks):
        """The switcher branches a model of `num_tasks` tasks needs: one per (group, task)."""
        return len(self.groups) * num_tasks

    def branch_names(self):
        """`<task>__<group>` for every group, then every task: the switcher's branches."""
        return list(self._branches)

    def task_of(self, branch):
        """The task a branch's tower predicts."""
        return self._branches[branch][0]

    def tower_units_of(self, branch, default):
        """The widths of a branch's tower: its group's, or `default`."""
        return (self.tower_units or {}).get(self._branches[branch][1], default)

    def group_of(self, inputs):
        """`(batch,)` group index of each sample, from the preprocessed group feature."""
        ids = ops.reshape(ops.cast(inputs[self.group_feature], "int32"), (-1,))
        return ops.take(ops.convert_to_tensor(np.asarray(self.group_of_id, "int32")), ids)

    def call(self, logits, inputs, training=None):
        # One-hot selection: the towers of other groups are multiplied by 0,
        # so a sample's loss gives them exactly zero gradient.
        chosen = ops.one_hot(self.group_of(inputs), len(self.groups))  # (batch, G)
        routed = dict(logits)
        for task in self.task_names:
            stacked = ops.stack([logits[branch_name(task, g)] for g in self.groups], axis=1)
            routed[task] = ops.sum(stacked * ops.cast(chosen, stacked.dtype)[:, :, None], axis=1)
        return routed

    def get_build_config(self):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "group_feature": self.group_feature,
                "groups": self.groups,
                "group_of_id": self.group_of_id,
                "tower_units": self.tower_units,
            }
        )
        return config


def branch_name(task, group):
    return f"{task}__{group}"


def vocabulary_values(preprocessor, group_feature):
    """The raw values of a categorical feature's vocabulary, as plain str / int."""
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
