"""Architecture search: AutoMTL's differentiable search over experts, and what it derives."""

from zoo.search.automtl_search import (
    ArchitectureProgress,
    SearchConfig,
    SearchResult,
    describe_architecture,
    save_architecture,
    search_automtl,
)

__all__ = [
    "ArchitectureProgress",
    "SearchConfig",
    "SearchResult",
    "describe_architecture",
    "save_architecture",
    "search_automtl",
]
