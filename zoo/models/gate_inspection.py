"""What a model weighs: its switcher's gates, under the names of the tasks they serve, and
the attention its behaviour histories pay to each past item."""

from zoo.models.raw_inputs import as_feature_dict


class GateInspection:
    """A mixin of `MultiTaskModel`: gate weights and the experts each gate weighs."""

    def gate_weights(self, inputs):
        """Dict from gate name to `(batch, experts)` weights; task gates by task name.

        `inputs` are features as the model's call takes them (raw, with a
        preprocessor).
        """
        if self.takes_raw_features:
            inputs = self.raw_feature_encoder()(as_feature_dict(inputs))
        _, weights = self.task_representations(inputs, return_gate_weights=True)
        return {self._display_name(name): w for name, w in weights.items()}

    def attention_weights(self, inputs):
        """Dict from sequence feature name to DIN's `(batch, max_len)` weights over the history.

        One entry per `SequenceFeature(pooling="attention")`: the weight of
        each past item for the row's candidate (0 at padding; not
        normalized, as in DIN). Empty for a model without one.
        `inputs` are features as the model's call takes them (raw, with a
        preprocessor). A model with one embedding per task (Single-task)
        answers for its first task's.
        """
        if self.takes_raw_features:
            inputs = self.raw_feature_encoder()(as_feature_dict(inputs))
        embedding = getattr(self, "embedding", None)
        if embedding is None and getattr(self, "task_embeddings", None):
            embedding = self.task_embeddings[0]
        if not hasattr(embedding, "attention_weights"):
            return {}
        return embedding.attention_weights(inputs)

    def gate_expert_names(self):
        """Dict from gate name (as in `gate_weights`) to the names of its experts.

        Empty for a model without a switcher (NGCF: one graph model per task).
        """
        if self.switcher is None:
            return {}
        return {
            self._display_name(gate): [self._display_name(e) for e in experts]
            for gate, experts in self.switcher.gate_expert_names().items()
        }

    def _display_name(self, name):
        # Switchers say "task_k" in gate and expert names ("level_0/task_1",
        # "task_0/expert_2"); show the task's (or routed branch's) name instead.
        parts = name.split("/")
        for i, part in enumerate(parts):
            if part.startswith("task_") and part[5:].isdigit():
                parts[i] = self.branch_names()[int(part[5:])]
        return "/".join(parts)
