from zoo.api import register
from zoo.layers.graph.ngcf import NGCFEncoder
from zoo.layers.heads.graph_score import pair_score
from zoo.models.multitask_model import MultiTaskModel


@register
class NGCF(MultiTaskModel):
    """Neural Graph Collaborative Filtering, one independent model per task.

    The single-task graph baseline of the MoGENet paper: user and item id
    embeddings propagated over the user-item graph (`NGCFEncoder`), the
    logit of a pair the inner product of the two, plus a learned bias per
    task. (That score goes on any other model as a `zoo.layers.GraphScore`
    head.) Nothing is shared between
    tasks (each has its own embeddings and propagation), as for the zoo's
    `SingleTask`; the graph is the same (an edge where any task is
    positive, built from the training rows). NGCF uses ids only; the other
    features are not read.

    The bias is ours. NGCF's paper trains with BPR, a pairwise loss, in which
    a constant added to every score cancels; the zoo trains each task
    pointwise with cross-entropy, where it does not. Without it, the
    propagated embeddings at initialization point almost the same way for
    every user and item (cosines 0.91-0.97 on MovieLens), so every pair
    starts at a logit near +1.9 (p = 0.87) against base rates of 0.11-0.29,
    and the embeddings spend epochs undoing that offset.

    Args:
        tasks: list of binary tasks.
        num_users: int, the user id's vocabulary size (with OOV).
        num_items: int, the same for items.
        user_id_feature: the preprocessed user id feature.
        item_id_feature: the preprocessed item id feature.
        units: int, embedding width (NGCF: 64).
        num_layers: int, propagation layers (MoGENet's setting: 2).
        l2: float >= 0, L2 on the id embeddings of each batch's users and
            items, as NGCF's code applies its decay (1e-5); see
            `NGCFEncoder(embedding_l2=)`. Until 2026-12-07 it was a Keras
            regularizer on the whole table, which is not NGCF's form and
            gave every row of the table a gradient every step.
        features: feature list, or `None` with a preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        **kwargs: `MultiTaskModel` keyword arguments.

    References:
        Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019.
    """

    def __init__(
        self,
        tasks,
        num_users,
        num_items,
        user_id_feature="user_id",
        item_id_feature="item_id",
        units=64,
        num_layers=2,
        l2=1e-5,
        features=None,
        preprocessor=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "ngcf")
        kwargs.pop("switcher", None)
        kwargs.pop("graph_encoder", None)
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self.user_id_feature = user_id_feature
        self.item_id_feature = item_id_feature
        self.units = int(units)
        self.num_layers = int(num_layers)
        self.l2 = float(l2)
        super().__init__(tasks, None, features=features, preprocessor=preprocessor, **kwargs)
        self.task_encoders = [
            NGCFEncoder(
                self.num_users,
                self.num_items,
                user_id_feature=user_id_feature,
                item_id_feature=item_id_feature,
                units=self.units,
                num_layers=self.num_layers,
                embedding_l2=self.l2,
                name=f"ngcf_{t.name}",
            )
            for t in self.tasks
        ]
        self.task_biases = self.add_weight(
            shape=(len(self.tasks),), initializer="zeros", name="task_biases"
        )

    def make_embedding(self):
        return None  # ids only, embedded by each task's NGCFEncoder

    def make_towers(self):
        return {}

    def graph_layers(self):
        return [*self.task_encoders, *super().graph_layers()]

    def head_logits(self, inputs, training=None):
        logits = {}
        for k, (task, encoder) in enumerate(zip(self.tasks, self.task_encoders)):
            pair = encoder(inputs, training=training)
            logits[task.name] = pair_score(pair) + self.task_biases[k]
        return logits

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_users": self.num_users,
                "num_items": self.num_items,
                "user_id_feature": self.user_id_feature,
                "item_id_feature": self.item_id_feature,
                "units": self.units,
                "num_layers": self.num_layers,
                "l2": self.l2,
            }
        )
        return config
