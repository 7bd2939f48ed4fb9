"""Prompt ensembling for short, class-like text queries ("dress", "a red car").

CLIP-style models were trained on captions, so a bare class name embeds worse than a
caption-like sentence; averaging the embeddings of several templates ("a photo of a {}",
"a close-up photo of a {}", ...) smooths out the wording (Radford et al. 2021, section 3.1.4).
Off by default: it did not help the built-in model (docs/search-quality.md).
"""

from __future__ import annotations

import re

TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a close-up photo of a {}.",
    "a photo of the {}.",
    "a good photo of a {}.",
    "a bright photo of a {}.",
    "a cropped photo of a {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
)
#: Queries of at most this many words count as class-like.
MAX_WORDS = 3
_ARTICLE = re.compile(r"^(a|an|the)\s+", re.IGNORECASE)


def is_short(text: str) -> bool:
    """A class-like query: a few words, no sentence punctuation."""
    words = text.split()
    return 0 < len(words) <= MAX_WORDS and not re.search(r"[.,;:!?]", text)


def ensemble_prompts(text: str) -> list[str]:
    """The templated prompts of a short query (its article dropped: "a red car" ->
    "a photo of a red car.")."""
    core = _ARTICLE.sub("", " ".join(text.split()))
    return [t.format(core) for t in TEMPLATES]
