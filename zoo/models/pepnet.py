import keras

from zoo.api import register
from zoo.layers.features.personalized_embedding import (
    PersonalizedEmbedding,
    check_feature_names,
)
from zoo.layers.switchers.ppnet import PPNetSwitcher
from zoo.models.multitask_model import MultiTaskModel, resolve_features
from zoo.models.raw_inputs import as_feature_dict
from zoo.tasks import as_tasks


@register
class PEPNet(MultiTaskModel):
    """PEPNet: the embedding gated by the domain (EPNet), each task's DNN by the priors (PPNet).

    Field embeddings E (k features, `field_dim` wide each) ->
    `PersonalizedEmbedding` (EPNet: O_ep = GateNU([E(F_d),
    stop_gradient(E)]) * E) -> `PPNetSwitcher` (one DNN per task, every hidden layer scaled
    by a Gate NU of [O_prior, stop_gradient(O_ep)]) -> towers. Both gates
    are `zoo.layers.GateNU`, delta = gamma * sigmoid(...) in (0, gamma).

    How the priors reach PPNet: a switcher receives one tensor from the
    backbone, so the embedding layer returns [O_ep, O_prior] (O_prior: the
    personal features' own, ungated, embeddings) and the switcher is built
    with `prior_dim = len(personal_features) * field_dim`, the width it
    splits off the end for its gates. The split is static, so the model
    stays one XLA-compilable graph, serving sees the same named raw inputs
    as every zoo model, and the towers and heads are untouched. (The
    alternative, a second input path around the switcher, would need a
    backbone of its own and break `embed()` for heads that read the
    shared representation.) The towers and heads see only the switcher's
    outputs, so no prior leaks past the gates. `graph_encoder` is not
    supported: its vectors would land where the priors are expected.

    Defaults, and why:
    - `domain_features=()`: EPNet is off (O_ep = E). Which feature names a
      domain (a page, a scenario, a tab) is knowledge of the dataset; a
      guess would gate the embedding by an arbitrary feature.
    - `personal_features=None`: every categorical feature that is not a
      domain feature. The paper's priors are the ids and id-like side
      information of the user, the item and its author (user id, item id,
      author id, age, gender, category); a feature list does not say which
      side a feature belongs to, but its categorical features are those ids
      and that side information, and numeric statistics stay in the
      general embedding. Name them (`["user_id", "item_id"]`) to follow the
      paper closely; `[]` leaves the gates only stop_gradient(O_ep).
    - `tower_units=()`: the paper personalizes every layer of each task's
      DNN, so the DNN is the switcher's (`hidden_units`) and the tower is
      the output layer alone.

    Names are checked: an unknown name is a ValueError that lists the
    model's features.

    Args:
        tasks: list of `zoo.tasks.Task` (or config dicts, or names of binary
            tasks).
        features: the `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        domain_features: names of the domain-side features (domain id,
            per-domain statistics) whose Gate NU scales the embedding
            (EPNet); empty turns EPNet off.
        personal_features: names of the personal prior features whose
            embeddings feed every PPNet gate, or `None` for every categorical
            feature that is not a domain feature.
        field_dim: int >= 1, the embedding width of every feature (EPNet
            gates k fields of equal width, as the paper's E in R^{k x d}).
        hidden_units: widths of each task's gated DNN (PPNet).
        epnet_granularity: `"field"` (one EPNet gate per feature, the
            paper's delta_domain in R^k) or `"unit"` (one per embedding
            unit, as public implementations do).
        gate_hidden_dim: width of every Gate NU's first layer, or `None`
            for its output width.
        gamma: float > 0, the Gate NUs' scale; the paper's 2 centres the
            gates on 1.
        activation: hidden activation of the task DNNs.
        dropout: float in [0, 1), dropout after every gated hidden layer.
        kernel_regularizer: regularizer of the DNN and gate kernels.
        seed: int or `None`, seed of the dropout.
        tower_units: hidden widths of the tower on each task's DNN; none by
            default.
        heads: more heads (`zoo.layers.heads`), as in `MultiTaskModel`.
        **kwargs: `MultiTaskModel` arguments (`loss_weighting`,
            `ranking_weights`, ...).

    Example:
    ```python
    model = zoo.models.PEPNet(
        tasks=census.tasks, preprocessor=census.make_preprocessor(),
        domain_features=["sex"], personal_features=["det_occ_code", "class_worker"],
    )
    model.compile()
    model.fit(raw_features, labels, epochs=5)
    model.personalization_gates(raw_features)  # {"domain": ..., "income/layer_0": ...}
    ```

    References:
        Chang et al., "PEPNet: Parameter and Embedding Personalized Network
        for Infusing with Personalized Prior Information", KDD 2023
        (arXiv 2302.01115).
    """

    supports_graph_encoder = False  # its vectors would be read as priors

    def __init__(
        self,
        tasks,
        features=None,
        preprocessor=None,
        domain_features=(),
        personal_features=None,
        field_dim=8,
        hidden_units=(128, 64),
        epnet_granularity="field",
        gate_hidden_dim=None,
        gamma=2.0,
        activation="relu",
        dropout=0.0,
        kernel_regularizer=None,
        seed=None,
        tower_units=(),
        heads=(),
        **kwargs,
    ):
        tasks = as_tasks(tasks)
        if isinstance(preprocessor, dict):
            preprocessor = keras.layers.deserialize(preprocessor)
        every_feature = resolve_features(features, preprocessor)
        # Checked here, against every feature, so a typo is named before anything is built.
        self.domain_features = check_feature_names(
            domain_features, every_feature, "domain_features"
        )
        if personal_features is not None:
            personal_features = check_feature_names(
                personal_features, every_feature, "personal_features"
            )
        self._requested_personal_features = personal_features
        if int(field_dim) < 1:
            raise ValueError(f"Expected field_dim >= 1. Received: field_dim={field_dim}")
        self.field_dim = int(field_dim)
        self.epnet_granularity = epnet_granularity
        self.gate_hidden_dim = gate_hidden_dim
        self.gamma = float(gamma)
        self.kernel_regularizer = keras.regularizers.serialize(
            keras.regularizers.get(kernel_regularizer)
        )
        heads = [keras.layers.deserialize(h) if isinstance(h, dict) else h for h in heads]
        # A routing head (per-group towers) asks for more branches than tasks.
        routing = [h for h in heads if getattr(h, "routes", False)]
        num_branches = routing[0].num_branches(len(tasks)) if routing else len(tasks)
        # The backbone's features, as the base class will find them: heads keep the features
        # serving cannot know (selection bias) out of it.
        omitted = {
            name
            for h in heads
            if not getattr(h, "known_at_serving", True)
            for name in h.feature_names
        }
        prior_names = self._personal_names([f for f in every_feature if f["name"] not in omitted])
        switcher = PPNetSwitcher(
            num_branches,
            units=hidden_units,
            prior_dim=len(prior_names) * self.field_dim,
            gate_hidden_dim=gate_hidden_dim,
            gamma=self.gamma,
            activation=activation,
            dropout=dropout,
            kernel_regularizer=kernel_regularizer,
            seed=seed,
            name="switcher",
        )
        super().__init__(
            tasks,
            switcher,
            features=features,
            preprocessor=preprocessor,
            tower_units=tower_units,
            heads=heads,
            **kwargs,
        )
        self.personal_features = list(self.embedding.personal_features)

    def _personal_names(self, features):
        """The personal features asked for, or the default: the categorical non-domain ones."""
        if self._requested_personal_features is not None:
            return list(self._requested_personal_features)
        return [
            f["name"]
            for f in features
            if f["kind"] != "numeric" and f["name"] not in self.domain_features
        ]

    def make_embedding(self):
        features = self.backbone_features()
        return PersonalizedEmbedding(
            features,
            self.field_dim,
            domain_features=self.domain_features,
            personal_features=self._personal_names(features),
            granularity=self.epnet_granularity,
            gate_hidden_dim=self.gate_hidden_dim,
            gamma=self.gamma,
            kernel_regularizer=self.kernel_regularizer,
            name="embedding",
        )

    def personalization_gates(self, inputs):
        """Every gate's values: `"domain"` (EPNet's delta_domain, ones without domain features)
        and `"<task>/layer_<l>"` (PPNet's delta for that task's hidden layer l).

        `inputs` are features as the model's call takes them (raw, with a
        preprocessor). Values lie in `(0, gamma)`; 1 leaves a unit as it is.
        """
        if not self.built:
            self.build()
        if self.takes_raw_features:
            inputs = self.raw_feature_encoder()(as_feature_dict(inputs))
        gates = {"domain": self.embedding.domain_gate_weights(inputs)}
        shared = self.embed(inputs)
        for name, delta in self.switcher.task_gates(shared).items():
            gates[self._display_name(name)] = delta
        return gates

    def get_config(self):
        config = super().get_config()
        switcher = self.switcher.get_config()
        config.update(
            {
                "domain_features": self.domain_features,
                "personal_features": self.personal_features,
                "field_dim": self.field_dim,
                "hidden_units": switcher["units"],
                "epnet_granularity": self.epnet_granularity,
                "gate_hidden_dim": self.gate_hidden_dim,
                "gamma": self.gamma,
                "activation": switcher["activation"],
                "dropout": switcher["dropout"],
                "kernel_regularizer": self.kernel_regularizer,
                "seed": switcher["seed"],
            }
        )
        return config
