"""Constructor arguments as data: names, defaults and help read from the code itself.

The command line makes its model flags from these, so `zoo train --help`
states the defaults the constructors have rather than a copy of them, and a
model that forwards its switcher's arguments documents them without
restating them. Docstrings are Google style (an `Args:` section), parsed by
`docstring_parser`.
"""

import dataclasses
import inspect

import docstring_parser

REQUIRED = inspect.Parameter.empty


@dataclasses.dataclass(frozen=True)
class Argument:
    """One constructor argument.

    Attributes:
        name: the keyword.
        default: its default, or `REQUIRED`.
        help: the first sentence-or-so of its docstring entry, on one line.
        owner: the class that declares it (`"MMoESwitcher"`).
    """

    name: str
    default: object
    help: str
    owner: str

    @property
    def required(self):
        return self.default is REQUIRED


def class_arguments(cls, skip=(), follow_kwargs=True):
    """Dict from argument name to `Argument` for `cls`'s constructor.

    `__init__` methods are followed up the zoo's classes while they pass
    `**kwargs` on (a switcher hands `dropout` and `seed` to `Switcher`);
    `*args`/`**kwargs` themselves are left out. `follow_kwargs=False` reads
    `cls.__init__` alone.
    """
    docs = _docstring_params(cls)
    arguments = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("zoo"):
            break
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters
        for name, parameter in parameters.items():
            if name == "self" or name in skip or name in arguments:
                continue
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            arguments[name] = Argument(name, parameter.default, docs.get(name, ""), klass.__name__)
        if not follow_kwargs or not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            break
    return arguments


def _docstring_params(cls):
    """Dict from argument name to its one-line description, over `cls`'s MRO docstrings."""
    docs = {}
    for klass in reversed(cls.__mro__):
        if klass.__doc__ and klass.__module__.startswith("zoo"):
            for param in docstring_parser.parse(inspect.cleandoc(klass.__doc__)).params:
                # "num_experts, expert_units: ..." documents several arguments at once.
                for name in param.arg_name.replace(" ", "").split(","):
                    docs[name] = " ".join((param.description or "").split())
    return docs
