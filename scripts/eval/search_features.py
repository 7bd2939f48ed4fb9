"""Measure the search features of issue 14 with the built-in offline model through the product
path (``visearch.eval.features``): relevance feedback, negative terms, the relevance cutoff,
near-duplicate detection, diversity and prompt ensembling. Writes the numbers as JSON.

    .venv/bin/python scripts/eval/search_features.py --data ../shared/data --work /tmp/vs-feat \\
        --out docs/search-quality.json

Corpora are indexed once into ``--work`` (a re-run finds them indexed and only searches).
The relevance cutoff uses the calibration shipped with the model (measured on the first 500
Flickr8k dev images by ``visearch eval --calibrate``); its quality is measured on the other 500.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image

from visearch.config import load_settings
from visearch.eval import features as F
from visearch.eval.datasets import load_captions, load_labels
from visearch.runtime import Runtime
from visearch.services.cutoff import Cutoff
from visearch.services.search import SearchQuery

CONCEPTS = ["dog", "dogs", "man", "woman", "boy", "girl", "child", "people", "water", "grass",
            "snow", "beach", "ball", "street", "bike", "red", "black", "white", "running",
            "jumping", "field", "mountain", "shirt", "crowd", "pool", "sand", "rock"]
DISTANCES = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def runtime_for(work: Path, **overrides: Any) -> Runtime:
    settings = load_settings(model="builtin:offline", model_fallback="", device="cpu",
                             data_dir=work, log_level="WARNING", **overrides)
    return Runtime.build(settings)


def flickr(data: Path, work: Path, results: dict[str, Any]) -> None:
    items = load_captions(data / "flickr8k" / "captions.jsonl", None, None)
    dev = [it for it in items if it.split == "dev"]
    train = [it for it in items if it.split == "train"][:2000]
    ids = [f"fd-{i:04d}" for i in range(len(dev))] + [f"ft-{i:04d}" for i in range(len(train))]
    meta = [{"split": "dev", "part": 0 if i < 500 else 1} for i in range(len(dev))] + \
        [{"split": "train"} for _ in train]
    # Near-duplicates recorded up to distance 0.1 and indexed anyway: the 3,000 distinct
    # images give the false-positive rate of every smaller distance.
    runtime = runtime_for(work / "flickr", near_duplicate_distance=0.1,
                          near_duplicate_action="index")
    try:
        log(f"flickr: indexing {len(ids)} images")
        statuses, dup_of = F.index_corpus(runtime, [it.image for it in dev + train], ids, meta)
        corpus = F.Corpus(runtime, ids, captions=[it.captions for it in dev + train],
                          statuses=statuses, duplicate_of=dup_of)
        vectors = corpus.vectors(ids)
        sim = F.nearest_earlier(vectors)
        flagged = [i for i, s in enumerate(statuses) if s == "near_duplicate"]
        fresh = "duplicate" not in statuses  # else indexed by an earlier run: no statuses now
        results["near_duplicates_distinct"] = {
            "images": len(ids), "false_positive_rate_percent": F.false_positive_rates(sim[1:],
                                                                                      DISTANCES),
            "flagged_at_0.1_by_the_indexer": len(flagged) if fresh else None,
            "flagged_examples": [(ids[i], dup_of[i], round(float(sim[i]), 4))
                                 for i in flagged[:10]],
        }
        log(f"flickr: fp {results['near_duplicates_distinct']}")
        part1 = [(c, ids[i]) for i, it in enumerate(dev) if i >= 500 for c in it.captions]
        one_each = [(it.captions[0], ids[i]) for i, it in enumerate(dev) if i >= 500]
        runtime.searcher.prime_texts([c for c, _ in part1]
                                     + [f"a photo of a {w}" for w in CONCEPTS] + CONCEPTS)
        flt_part1 = {"metadata.split": "dev", "metadata.part": 1}
        flt_dev = {"metadata.split": "dev"}
        log("flickr: feedback")
        results["feedback_flickr8k"] = F.flickr_feedback(corpus, part1, flt_part1)
        log("flickr: cutoff")
        # The calibration as it is stored with the model now (it may have been written since
        # this runtime started).
        runtime.searcher.cutoff = Cutoff.from_settings(runtime.settings, runtime.embedder.model_id)
        results["cutoff_calibration"] = runtime.searcher.cutoff.describe()
        results["cutoff_flickr8k"] = F.cutoff_quality(corpus, part1, flt_part1)
        log(f"flickr: cutoff {results['cutoff_flickr8k']}")
        log("flickr: negative terms")
        words = F.concept_sets(corpus)[: len(dev)]
        pairs = F.concept_pairs(words, CONCEPTS)
        results["negative_terms_flickr8k"] = F.negative_terms(corpus, pairs, flt_dev)
        log(f"flickr: negative {results['negative_terms_flickr8k']['share']}")
        log("flickr: diversity")
        results["diversity_flickr8k"] = F.diversity(corpus, one_each, flt_part1)
        log(f"flickr: diversity {results['diversity_flickr8k']}")
        log("flickr: variants")
        originals = list(range(500, 600))
        variant_ids, variant_paths, kinds, owners = [], [], [], []
        vdir = work / "variants"
        vdir.mkdir(parents=True, exist_ok=True)
        for n in originals:
            with Image.open(dev[n].image) as im:
                for kind in F.VARIANT_KINDS:
                    path = vdir / f"{kind}-{n:04d}.jpg"
                    if not path.exists():
                        path.write_bytes(F.make_variant(im, kind))
                    variant_ids.append(f"fv-{kind}-{n:04d}")
                    variant_paths.append(path)
                    kinds.append(kind)
                    owners.append(ids[n])
        v_status, v_dup = F.index_corpus(runtime, variant_paths, variant_ids,
                                         [{"split": "variant"}] * len(variant_ids))
        if "duplicate" in v_status:  # indexed by an earlier run: nothing was detected now
            log("flickr: the variants were indexed by an earlier run; detection is measured "
                "on a fresh --work only")
            return
        vv = corpus.vectors(variant_ids)
        ov = corpus.vectors(owners)
        sims: dict[str, list[float]] = {}
        correct: dict[str, list[bool]] = {}
        for i, kind in enumerate(kinds):
            sims.setdefault(kind, []).append(float(vv[i] @ ov[i]))
            correct.setdefault(kind, []).append(v_dup[i] == owners[i])
        results["near_duplicates_variants"] = {
            "originals": len(originals),
            "detection_rate_percent": F.detection_rates(sims, correct, DISTANCES),
            "similarity_to_original_min": {k: round(min(v), 4) for k, v in sims.items()},
        }
        log(f"flickr: variants {results['near_duplicates_variants']}")
    finally:
        runtime.close()


def clothing(data: Path, work: Path, results: dict[str, Any]) -> None:
    labels_file = data / "clothing10" / "labels.jsonl"
    train = load_labels(labels_file, "train", None)
    val = load_labels(labels_file, "validation", None)
    ids = [f"ct-{i:04d}" for i in range(len(train))]
    runtime = runtime_for(work / "clothing", near_duplicate_distance=0.0)
    try:
        log(f"clothing: indexing {len(ids)} images")
        F.index_corpus(runtime, [it.image for it in train], ids, [{}] * len(ids),
                       labels=[it.label for it in train])
        corpus = F.Corpus(runtime, ids, labels=[it.label for it in train])
        classes = sorted(set(corpus.labels))
        by_class = {c: {i for i, lab in zip(ids, corpus.labels, strict=True) if lab == c}
                    for c in classes}
        log("clothing: ensembling")
        results["ensembling_clothing10"] = F.ensembling(corpus, classes)
        log(f"clothing: ensembling {results['ensembling_clothing10']}")
        log("clothing: feedback (class prompts)")
        prompts = [SearchQuery(text=f"a photo of a {c}") for c in classes]
        results["feedback_clothing10_prompts"] = F.feedback_round(
            corpus, prompts, [by_class[c] for c in classes]).summary()
        log(f"clothing: {results['feedback_clothing10_prompts']}")
        log("clothing: feedback (validation images)")
        queries = [SearchQuery(image=it.image.read_bytes()) for it in val]
        results["feedback_clothing10_images"] = F.feedback_round(
            corpus, queries, [by_class.get(it.label, set()) for it in val]).summary()
        log(f"clothing: {results['feedback_clothing10_images']}")
    finally:
        runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", choices=["flickr", "clothing"])
    args = parser.parse_args()
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    started = time.perf_counter()
    for name, run in (("flickr", flickr), ("clothing", clothing)):
        if args.only in (None, name):
            run(args.data, args.work, results)
            args.out.write_text(json.dumps(results, indent=2) + "\n")
    results["seconds"] = round(time.perf_counter() - started)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"done: {args.out}")


if __name__ == "__main__":
    main()
