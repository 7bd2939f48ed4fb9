"""Measurements of the search features of issue 14 through the product path.

Each corpus is indexed with the real ``Indexer`` into a ``Runtime`` of its own, and every
query goes through ``Searcher.search`` with a ``SearchQuery`` (terms, likes and dislikes,
cutoff, diversity, ensembling), exactly as the API runs it. Only the scoring of the answers
(precision, recall, mAP, pairwise similarity, concept shares) happens here, in numpy.
``scripts/eval/search_features.py`` runs them and writes the numbers of
docs/search-quality.md.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visearch.eval import ranking_metrics as m
from visearch.services.search import STRATEGIES, SearchQuery, Strategy, Term

if TYPE_CHECKING:
    from PIL import Image

    from visearch.runtime import Runtime
    from visearch.store.base import ScoredPoint

#: The variants near-duplicate detection is measured on.
VARIANT_KINDS = ("resize50", "jpeg30", "crop10", "rotate5", "flip", "colour")


@dataclass
class Corpus:
    """Indexed images: their ids (gallery order), payload keys and the results of indexing."""

    runtime: Runtime
    ids: list[str]
    labels: list[str] = field(default_factory=list)
    captions: list[list[str]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    duplicate_of: list[str | None] = field(default_factory=list)

    def index_of(self) -> dict[str, int]:
        return {image_id: i for i, image_id in enumerate(self.ids)}

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        got = {p.id: p.vector for p in self.runtime.store.get(list(ids), with_vectors=True)}
        return np.stack([np.asarray(got[i], np.float32) for i in ids])


def index_corpus(runtime: Runtime, paths: Sequence[Path], ids: Sequence[str],
                 metadata: Sequence[dict[str, Any]], labels: Sequence[str | None] | None = None,
                 progress: Callable[[int], None] | None = None) -> tuple[list[str], list[str | None]]:
    """Index through the product's indexer; (status, duplicate_of) of each image."""
    from visearch.services.indexing import IndexItem

    items = [IndexItem(path=p, image_id=ids[i], filename=p.name, source=str(p),
                       metadata=dict(metadata[i]), label=labels[i] if labels else None)
             for i, p in enumerate(paths)]
    results = runtime.indexer.index_items(items, progress=progress)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} images failed to index: {failed[0].error}")
    return [r.status for r in results], [r.duplicate_of for r in results]


def ranked_ids(runtime: Runtime, q: SearchQuery) -> list[ScoredPoint]:
    return runtime.searcher.search(q).results


# -- 1. relevance feedback ---------------------------------------------------------------------


def _ap(rel: np.ndarray, n_relevant: int) -> float:
    return float(m.average_precision(rel[None, :], np.array([n_relevant]))[0])


@dataclass
class FeedbackScores:
    """Per query: P@10 and AP before (full ranking), and on the residual collection (the ten
    judged images removed from ranking and relevance) before and after one round."""

    before_p10: list[float] = field(default_factory=list)
    before_ap: list[float] = field(default_factory=list)
    residual_before_p10: list[float] = field(default_factory=list)
    residual_before_ap: list[float] = field(default_factory=list)
    after_p10: dict[str, list[float]] = field(default_factory=dict)
    after_ap: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        mean = lambda v: round(100 * float(np.mean(v)), 1) if v else None  # noqa: E731
        return {
            "queries": len(self.before_p10),
            "before": {"p@10": mean(self.before_p10), "map": mean(self.before_ap)},
            "residual_before": {"p@10": mean(self.residual_before_p10),
                                "map": mean(self.residual_before_ap)},
            "after": {s: {"p@10": mean(self.after_p10[s]), "map": mean(self.after_ap[s])}
                      for s in self.after_p10},
        }


def feedback_round(corpus: Corpus, queries: Sequence[SearchQuery], relevant: Sequence[set[str]],
                   strategies: Sequence[Strategy] = STRATEGIES, judged: int = 10,
                   depth: int | None = None) -> FeedbackScores:
    """One round of feedback per query: the top ``judged`` results' relevant ones are liked,
    the others disliked, and the query runs again with each strategy."""
    runtime, out = corpus.runtime, FeedbackScores()
    full = depth or len(corpus.ids)
    for q, rel in zip(queries, relevant, strict=True):
        first = [p.id for p in ranked_ids(runtime, _with(q, top_k=full))]
        flags = np.array([i in rel for i in first])
        out.before_p10.append(float(flags[:10].mean()))
        out.before_ap.append(_ap(flags, len(rel)))
        liked = [i for i in first[:judged] if i in rel]
        disliked = [i for i in first[:judged] if i not in rel]
        residual_rel = rel - set(liked)
        rest = np.array([i in residual_rel for i in first[judged:]])
        out.residual_before_p10.append(float(rest[:10].mean()))
        out.residual_before_ap.append(_ap(rest, len(residual_rel)))
        for strategy in strategies:
            if strategy == "relevance_feedback" and not (q.text or q.image or q.terms):
                continue
            refined = _with(q, top_k=full - judged, positive_ids=tuple(liked),
                            negative_ids=tuple(disliked), strategy=strategy)
            got = [p.id for p in ranked_ids(runtime, refined)]
            flags_after = np.array([i in residual_rel for i in got])
            out.after_p10.setdefault(strategy, []).append(float(flags_after[:10].mean()))
            out.after_ap.setdefault(strategy, []).append(_ap(flags_after, len(residual_rel)))
    return out


def _with(q: SearchQuery, **changes: Any) -> SearchQuery:
    from dataclasses import replace

    return replace(q, **changes)


def flickr_feedback(corpus: Corpus, captions: Sequence[tuple[str, str]], flt: dict[str, Any],
                    shown: int = 20) -> dict[str, Any]:
    """Caption queries (one relevant image each): the user likes the relevant image when it is
    among the first ``shown``. After one round it is found (liked images are the user's, and
    refined results leave them out), so R@10 after the round is R@``shown`` before."""
    runtime = corpus.runtime
    r10, r20 = [], []
    for text, image_id in captions:
        first = [p.id for p in ranked_ids(runtime, SearchQuery(text=text, top_k=shown, flt=flt))]
        r10.append(image_id in first[:10])
        r20.append(image_id in first)
    n = max(len(r10), 1)
    return {"queries": len(r10), "r@10_before": round(100 * sum(r10) / n, 1),
            "r@20_before": round(100 * sum(r20) / n, 1),
            "r@10_after_one_round": round(100 * sum(r20) / n, 1),
            "moved_into_top10": round(100 * (sum(r20) - sum(r10)) / n, 1)}


# -- 2. negative terms --------------------------------------------------------------------------

_WORD = re.compile(r"[a-z]+")


def concept_sets(corpus: Corpus) -> list[set[str]]:
    """The words of each image's captions (a concept is in an image when a caption says it)."""
    return [{w for c in caps for w in _WORD.findall(c.lower())} for caps in corpus.captions]


def concept_pairs(words: Sequence[set[str]], concepts: Sequence[str], min_both: int = 15,
                  min_only: int = 15) -> list[tuple[str, str]]:
    """(wanted, unwanted) concept pairs with enough images having both and the first only."""
    pairs = []
    for a in concepts:
        for b in concepts:
            if a == b:
                continue
            both = sum(a in w and b in w for w in words)
            only = sum(a in w and b not in w for w in words)
            if both >= min_both and only >= min_only:
                pairs.append((a, b))
    return pairs


def negative_terms(corpus: Corpus, pairs: Sequence[tuple[str, str]], flt: dict[str, Any],
                   weights: Sequence[float] = (0.5, 1.0), top_k: int = 10) -> dict[str, Any]:
    """Share of the top ``top_k`` whose captions mention the unwanted concept (and the wanted
    one), for "a photo of <wanted>" without and with the term "<unwanted>" at -weight."""
    words = concept_sets(corpus)
    where = corpus.index_of()
    rows: dict[str, dict[str, list[float]]] = {}

    def shares(q: SearchQuery, a: str, b: str) -> tuple[float, float]:
        got = [words[where[p.id]] for p in ranked_ids(corpus.runtime, q)]
        return (float(np.mean([b in w for w in got])) if got else 0.0,
                float(np.mean([a in w for w in got])) if got else 0.0)

    for a, b in pairs:
        base = SearchQuery(text=f"a photo of a {a}", top_k=top_k, flt=flt)
        for name, q in [("without", base)] + [
                (f"weight -{w}", _with(base, terms=(Term(text=b, weight=-w),)))
                for w in weights]:
            neg, pos = shares(q, a, b)
            row = rows.setdefault(name, {"unwanted": [], "wanted": []})
            row["unwanted"].append(neg)
            row["wanted"].append(pos)
    return {"pairs": [f"{a} - {b}" for a, b in pairs], "top_k": top_k,
            "share": {k: {kk: round(100 * float(np.mean(v)), 1) for kk, v in r.items()}
                      for k, r in rows.items()}}


# -- 3. the cutoff -------------------------------------------------------------------------------


def cutoff_quality(corpus: Corpus, captions: Sequence[tuple[str, str]], flt: dict[str, Any],
                   fixed_k: Sequence[int] = (1, 5, 10), pool: int = 50) -> dict[str, Any]:
    """Precision and recall of the results kept by ``cutoff=auto`` against fixed top-k."""
    runtime = corpus.runtime
    kept_hits: list[bool] = []
    kept_n: list[int] = []
    fixed_hits: dict[int, list[bool]] = {k: [] for k in fixed_k}
    method = None
    for text, image_id in captions:
        out = runtime.searcher.search(SearchQuery(text=text, top_k=pool, flt=flt, cutoff="auto"))
        method = out.cutoff.method
        ids = [p.id for p in out.results]
        kept_hits.append(image_id in ids)
        kept_n.append(len(ids))
        full = [p.id for p in ranked_ids(runtime, SearchQuery(text=text, top_k=max(fixed_k),
                                                               flt=flt))]
        for k in fixed_k:
            fixed_hits[k].append(image_id in full[:k])
    n = max(len(kept_hits), 1)
    kept_total = max(sum(kept_n), 1)
    rows = {f"top-{k}": {"precision": round(100 * sum(h) / (n * k), 1),
                         "recall": round(100 * sum(h) / n, 1), "mean_kept": k}
            for k, h in fixed_hits.items()}
    rows["cutoff auto"] = {
        "precision": round(100 * sum(kept_hits) / kept_total, 1),
        "recall": round(100 * sum(kept_hits) / n, 1),
        "mean_kept": round(float(np.mean(kept_n)), 2),
        "queries_with_none_kept": int(sum(k == 0 for k in kept_n)),
    }
    return {"queries": len(kept_hits), "method": method, "rows": rows}


# -- 4. near-duplicates --------------------------------------------------------------------------


def make_variant(image: Image.Image, kind: str) -> bytes:
    """A re-encoded JPEG of ``image`` changed the way ``kind`` says."""
    from PIL import Image as PILImage
    from PIL import ImageEnhance, ImageOps

    im = image.convert("RGB")
    w, h = im.size
    quality = 90
    if kind == "resize50":
        im = im.resize((max(1, w // 2), max(1, h // 2)), PILImage.Resampling.LANCZOS)
    elif kind == "jpeg30":
        quality = 30
    elif kind == "crop10":
        dx, dy = round(w * 0.05), round(h * 0.05)
        im = im.crop((dx, dy, w - dx, h - dy))
    elif kind == "rotate5":
        im = im.rotate(5, resample=PILImage.Resampling.BICUBIC, expand=False, fillcolor="white")
    elif kind == "flip":
        im = ImageOps.mirror(im)
    elif kind == "colour":
        im = ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(1.08)).enhance(1.15)
    else:
        raise ValueError(f"unknown variant {kind!r}")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def nearest_earlier(vectors: np.ndarray) -> np.ndarray:
    """Each vector's highest cosine similarity to the vectors before it (-1 for the first):
    what index-time detection compares a new image with."""
    out = np.full(len(vectors), -1.0)
    for start in range(1, len(vectors), 512):
        block = vectors[start : start + 512] @ vectors[: start + 512].T
        for r in range(block.shape[0]):
            i = start + r
            out[i] = float(block[r, :i].max())
    return out


def false_positive_rates(similarity: np.ndarray, distances: Sequence[float]) -> dict[str, float]:
    return {f"{d:g}": round(100 * float(np.mean(similarity >= 1 - d)), 2) for d in distances}


def detection_rates(sims: dict[str, list[float]], correct: dict[str, list[bool]],
                    distances: Sequence[float]) -> dict[str, dict[str, float]]:
    """Per variant kind and distance: the share flagged as a near-duplicate of its original."""
    out: dict[str, dict[str, float]] = {}
    for kind, values in sims.items():
        s, ok = np.array(values), np.array(correct[kind])
        out[kind] = {f"{d:g}": round(100 * float(np.mean(ok & (s >= 1 - d))), 1)
                     for d in distances}
    return out


# -- 5. diversity --------------------------------------------------------------------------------


def diversity(corpus: Corpus, captions: Sequence[tuple[str, str]], flt: dict[str, Any],
              settings: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5)) -> dict[str, Any]:
    """Mean pairwise cosine similarity of the top 10 and R@10, per MMR diversity."""
    rows = {}
    for d in settings:
        pairwise, hits = [], []
        for text, image_id in captions:
            ids = [p.id for p in ranked_ids(corpus.runtime,
                                            SearchQuery(text=text, top_k=10, flt=flt,
                                                        diversity=d))]
            hits.append(image_id in ids)
            v = corpus.vectors(ids)
            sims = v @ v.T
            pairwise.append(float(sims[np.triu_indices(len(ids), 1)].mean()))
        rows[f"{d:g}"] = {"mean_pairwise_similarity": round(float(np.mean(pairwise)), 4),
                          "r@10": round(100 * float(np.mean(hits)), 1)}
    return {"queries": len(captions), "diversity": rows}


# -- 6. prompt ensembling ------------------------------------------------------------------------


def ensembling(corpus: Corpus, classes: Sequence[str], prompt: str = "a photo of a {label}"
               ) -> dict[str, Any]:
    """Class-prompt mAP (whole gallery) and P@10 with one prompt and with the ensemble."""
    full = len(corpus.ids)
    labels = corpus.labels
    rows = {}
    for name, make in [("single prompt", lambda c: SearchQuery(text=prompt.format(label=c),
                                                               top_k=full, ensemble=False)),
                       ("ensemble", lambda c: SearchQuery(text=c, top_k=full, ensemble=True))]:
        aps, p10 = [], []
        for c in classes:
            got = ranked_ids(corpus.runtime, make(c))
            where = corpus.index_of()
            flags = np.array([labels[where[p.id]] == c for p in got])
            aps.append(_ap(flags, sum(label == c for label in labels)))
            p10.append(float(flags[:10].mean()))
        rows[name] = {"map": round(100 * float(np.mean(aps)), 1),
                      "p@10": round(100 * float(np.mean(p10)), 1)}
    return {"classes": len(classes), "rows": rows}
