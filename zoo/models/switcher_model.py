"""Models that are a switcher between the shared input and the towers, and nothing more.

Shared-Bottom, OMoE, MMoE, CGC, PLE, cross-stitch and SNR differ only in
their switcher. Each is a `SwitcherModel` that names its switcher class:
the switcher's constructor arguments become the model's, forwarded to it,
kept as attributes and saved in the model's config, so no model restates
them (and a new switcher needs no model code at all:
`MultiTaskModel(tasks, switcher=MySwitcher(...), ...)`).
"""

import inspect

import keras

from zoo.arguments import REQUIRED, Argument, class_arguments
from zoo.models.multitask_model import MultiTaskModel
from zoo.tasks import as_tasks


class SwitcherModel(MultiTaskModel):
    """A `MultiTaskModel` whose switcher is built from the model's own arguments.

    Class attributes a subclass sets:
        switcher_class: the switcher layer class.
        renamed_arguments: dict from model argument to switcher argument,
            where the model's name says more (`{"bottom_units": "units"}`).
        fixed_arguments: switcher arguments the model sets and does not
            offer (OMoE: `{"num_gates": 1}`).
        default_arguments: the model's defaults where they differ from the
            switcher's or the switcher has none (`{"num_experts": 8}`).

    Args:
        tasks: list of `zoo.tasks.Task` (or config dicts, or names of binary
            tasks).
        features: the `FeatureEmbedding` feature list, or `None` with a
            preprocessor.
        preprocessor: an adapted `zoo.features.FeaturePreprocessor`.
        **kwargs: the switcher's arguments (`switcher_arguments()` lists
            them with their defaults) and `MultiTaskModel`'s (`tower_units`,
            `loss_weighting`, `ranking_weights`, ...).
    """

    switcher_class = None
    renamed_arguments = {}
    fixed_arguments = {}
    default_arguments = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.switcher_class is not None:
            # `inspect.signature(MMoE)` and IDEs show the arguments the model takes.
            cls.__signature__ = cls.constructor_signature()

    def __init__(self, tasks, features=None, preprocessor=None, heads=(), **kwargs):
        tasks = as_tasks(tasks)
        heads = [keras.layers.deserialize(h) if isinstance(h, dict) else h for h in heads]
        # A routing head (per-group towers) asks for more branches than tasks.
        routing = [h for h in heads if getattr(h, "routes", False)]
        num_branches = routing[0].num_branches(len(tasks)) if routing else len(tasks)
        values = {}
        for name, argument in self.switcher_arguments().items():
            value = kwargs.pop(name, argument.default)
            if value is REQUIRED:
                raise TypeError(f"{type(self).__name__} needs the argument {name!r}.")
            values[name] = value
        switcher = self.switcher_class(
            num_branches,
            **self.fixed_arguments,
            **{self.renamed_arguments.get(name, name): value for name, value in values.items()},
            name="switcher",
        )
        super().__init__(
            tasks, switcher, features=features, preprocessor=preprocessor, heads=heads, **kwargs
        )
        # The values as the switcher holds them (ints, lists, serialized gates): what the
        # config saves and the attributes show (`model.num_experts`).
        held = switcher.get_config()
        self.switcher_argument_values = {
            name: held[self.renamed_arguments.get(name, name)] for name in values
        }
        for name, value in self.switcher_argument_values.items():
            setattr(self, name, value)

    @classmethod
    def switcher_arguments(cls):
        """Dict from model argument name to `zoo.arguments.Argument`, the switcher's own."""
        to_model = {switcher: model for model, switcher in cls.renamed_arguments.items()}
        skip = ("num_tasks", *cls.fixed_arguments)
        arguments = {}
        for name, argument in class_arguments(cls.switcher_class, skip=skip).items():
            model_name = to_model.get(name, name)
            default = cls.default_arguments.get(model_name, argument.default)
            arguments[model_name] = Argument(model_name, default, argument.help, argument.owner)
        return arguments

    @classmethod
    def constructor_arguments(cls):
        """Every argument of the model: a subclass's own (YouTube's `bias_features`, DLEN's
        `alpha`), its switcher's, then `MultiTaskModel`'s."""
        base = class_arguments(MultiTaskModel, skip=("switcher",))
        arguments = {name: base[name] for name in ("tasks", "features", "preprocessor")}
        for klass in cls.__mro__:
            if klass in (SwitcherModel, MultiTaskModel):
                break
            if "__init__" in vars(klass):
                for name, argument in class_arguments(klass, follow_kwargs=False).items():
                    arguments.setdefault(name, argument)
        for name, argument in cls.switcher_arguments().items():
            arguments.setdefault(name, argument)
        for name, argument in base.items():
            arguments.setdefault(name, argument)
        return arguments

    @classmethod
    def constructor_signature(cls):
        parameters = []
        for argument in cls.constructor_arguments().values():
            parameters.append(
                inspect.Parameter(
                    argument.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=argument.default
                )
            )
        parameters.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
        return inspect.Signature(parameters)

    def get_config(self):
        config = super().get_config()
        config.update(self.switcher_argument_values)
        return config
