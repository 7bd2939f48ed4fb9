"""Ranking metrics: hand-computed cases and agreement with sklearn.metrics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    label_ranking_average_precision_score,
    ndcg_score,
    top_k_accuracy_score,
)

from visearch.eval import ranking_metrics as m

# One query, 4 results: relevant at ranks 1 and 3; a third relevant item was not retrieved.
REL = np.array([[True, False, True, False]])
N_REL = np.array([3])


def test_hand_computed_several_relevant() -> None:
    assert m.recall_at_k(REL, N_REL, 1)[0] == pytest.approx(1 / 3)
    assert m.recall_at_k(REL, N_REL, 3)[0] == pytest.approx(2 / 3)
    assert m.hit_at_k(REL, N_REL, 1)[0] == 1.0
    assert m.precision_at_k(REL, N_REL, 2)[0] == pytest.approx(0.5)
    assert m.precision_at_k(REL, N_REL, 10)[0] == pytest.approx(0.2)  # divides by k
    # AP@2: precision@1 = 1 at the only hit, over min(3, 2) = 2
    assert m.average_precision(REL, N_REL, 2)[0] == pytest.approx(0.5)
    # AP@4 and full AP: (1/1 + 2/3) / 3 (the missing item counts, as not retrieved)
    assert m.average_precision(REL, N_REL, 4)[0] == pytest.approx((1 + 2 / 3) / 3)
    assert m.average_precision(REL, N_REL)[0] == pytest.approx((1 + 2 / 3) / 3)
    assert m.reciprocal_rank(REL, N_REL)[0] == 1.0
    assert m.first_relevant_rank(REL, N_REL)[0] == 1.0
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m.ndcg_at_k(REL, N_REL, 4)[0] == pytest.approx(dcg / idcg)


def test_single_relevant_at_rank_three() -> None:
    rel = np.array([[False, False, True, False, False]])
    n = np.array([1])
    assert m.recall_at_k(rel, n, 2)[0] == 0.0
    assert m.recall_at_k(rel, n, 3)[0] == 1.0
    assert m.average_precision(rel, n, 5)[0] == pytest.approx(1 / 3)  # = RR for one item
    assert m.reciprocal_rank(rel, n)[0] == pytest.approx(1 / 3)
    assert m.ndcg_at_k(rel, n, 5)[0] == pytest.approx(1 / math.log2(4))
    assert m.first_relevant_rank(rel, n)[0] == 3.0


def test_relevant_not_retrieved() -> None:
    rel = np.zeros((1, 5), dtype=bool)
    n = np.array([2])
    assert m.recall_at_k(rel, n, 5)[0] == 0.0
    assert m.average_precision(rel, n)[0] == 0.0
    assert m.reciprocal_rank(rel, n)[0] == 0.0
    assert m.first_relevant_rank(rel, n)[0] == math.inf
    assert m.ndcg_at_k(rel, n, 5)[0] == 0.0


def test_queries_without_relevant_items_are_left_out() -> None:
    rel = np.array([[True, False], [False, False]])
    n = np.array([1, 0])
    per_query = m.per_query_metrics(rel, n, ks=(1,), ndcg_k=2)
    for name, values in per_query.items():
        assert math.isnan(values[1]), name
    assert m.mean_metric(per_query["recall@1"]) == 1.0  # the NaN query does not dilute it
    assert m.median_rank(per_query["rank"]) == 1.0
    assert math.isnan(m.mean_metric(np.array([np.nan])))


def test_median_rank_with_misses_is_infinite() -> None:
    rel = np.array([[True, False], [False, False], [False, False]])
    ranks = m.first_relevant_rank(rel, np.array([1, 1, 1]))
    assert m.median_rank(ranks) == math.inf
    assert m.median_rank(np.array([1.0, 3.0, math.inf])) == 3.0


def test_ties_are_broken_by_lower_index() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.9]])
    assert m.rank_by_scores(scores).tolist() == [[1, 3, 0, 2]]
    assert m.rank_by_scores(scores, depth=2).tolist() == [[1, 3]]
    # item 3 is relevant: tied with item 1 for the top, it is ranked second
    rel = m.relevance_matrix([[1, 3, 0, 2]], [{3}])
    assert m.first_relevant_rank(rel, np.array([1]))[0] == 2.0
    assert m.reciprocal_rank(rel, np.array([1]))[0] == 0.5


def test_relevance_matrix_pads_short_lists() -> None:
    rel = m.relevance_matrix([["a", "b"], ["c"]], [{"b"}, {"c", "z"}], depth=3)
    assert rel.tolist() == [[False, True, False], [True, False, False]]


def test_inconsistent_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="more relevant results"):
        m.recall_at_k(np.array([[True, True]]), np.array([1]), 2)
    with pytest.raises(ValueError, match="k must be at least 1"):
        m.precision_at_k(REL, N_REL, 0)
    with pytest.raises(ValueError, match="relevant counts"):
        m.hit_at_k(REL, np.array([1, 2]), 1)
    with pytest.raises(ValueError, match="result lists"):
        m.relevance_matrix([["a"]], [])


def _random_case(seed: int, n_q: int = 30, n_items: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Untied scores and a binary truth with 1..5 relevant items per query."""
    rng = np.random.default_rng(seed)
    scores = rng.random((n_q, n_items))
    truth = np.zeros((n_q, n_items), dtype=int)
    for q in range(n_q):
        truth[q, rng.choice(n_items, rng.integers(1, 6), replace=False)] = 1
    return scores, truth


def _rel(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = m.rank_by_scores(scores)
    return np.take_along_axis(truth, order, axis=1).astype(bool), truth.sum(axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_ap_agrees_with_sklearn(seed: int) -> None:
    scores, truth = _random_case(seed)
    rel, n_rel = _rel(scores, truth)
    ours = m.average_precision(rel, n_rel)
    theirs = [average_precision_score(truth[q], scores[q]) for q in range(len(truth))]
    np.testing.assert_allclose(ours, theirs)
    assert m.mean_metric(ours) == pytest.approx(
        label_ranking_average_precision_score(truth, scores)
    )


@pytest.mark.parametrize("k", [1, 5, 10, 40])
def test_ndcg_agrees_with_sklearn(k: int) -> None:
    scores, truth = _random_case(3)
    rel, n_rel = _rel(scores, truth)
    assert m.mean_metric(m.ndcg_at_k(rel, n_rel, k)) == pytest.approx(
        ndcg_score(truth, scores, k=k)
    )


@pytest.mark.parametrize("k", [1, 2, 5])
def test_hit_at_k_agrees_with_top_k_accuracy(k: int) -> None:
    rng = np.random.default_rng(4)
    scores = rng.random((50, 8))
    labels = rng.integers(0, 8, size=50)
    truth = np.zeros_like(scores, dtype=int)
    truth[np.arange(50), labels] = 1
    rel, n_rel = _rel(scores, truth)
    expected = top_k_accuracy_score(labels, scores, k=k, labels=np.arange(8))
    assert m.mean_metric(m.hit_at_k(rel, n_rel, k)) == pytest.approx(expected)
    # one relevant item per query: recall@k is the same number
    assert m.mean_metric(m.recall_at_k(rel, n_rel, k)) == pytest.approx(expected)


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    values = np.random.default_rng(5).random(200)
    low, high = m.bootstrap_ci(values, n_boot=500, seed=1)
    assert (low, high) == m.bootstrap_ci(values, n_boot=500, seed=1)
    assert (low, high) != m.bootstrap_ci(values, n_boot=500, seed=2)
    assert low < values.mean() < high
    assert high - low < 0.2
    assert m.bootstrap_ci(np.full(10, 0.25), n_boot=50) == (0.25, 0.25)
    with_nan = np.concatenate([values, [np.nan]])
    assert m.bootstrap_ci(with_nan, n_boot=500, seed=1) == (low, high)
    med_low, med_high = m.bootstrap_ci(values, n_boot=500, seed=1, statistic="median")
    assert med_low <= np.median(values) <= med_high
    assert all(math.isnan(v) for v in m.bootstrap_ci(np.array([np.nan]), n_boot=10))


def test_bootstrap_of_infinite_median_ranks() -> None:
    """Ranks beyond the depth are inf (e.g. the random baseline): the interval says so."""
    all_missed = np.full(50, np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.bootstrap_ci(all_missed, n_boot=200, statistic="median") == (np.inf, np.inf)
        mostly_missed = np.concatenate([np.arange(1.0, 21.0), np.full(30, np.inf)])
        low, high = m.bootstrap_ci(mostly_missed, n_boot=200, seed=3, statistic="median")
    assert low == np.inf or 1 <= low <= 20
    assert high == np.inf
    found = np.concatenate([np.arange(1.0, 41.0), np.full(10, np.inf)])
    low, high = m.bootstrap_ci(found, n_boot=200, seed=3, statistic="median")
    assert 1 <= low <= np.median(found) <= high <= 40


def test_random_rankings_are_seeded_permutations() -> None:
    ranks = m.random_rankings(5, 6, seed=3, exclude=[0, None, 2, None, 5])
    assert ranks.tolist() == m.random_rankings(5, 6, seed=3, exclude=[0, None, 2, None, 5]).tolist()
    assert sorted(ranks[1].tolist()) == list(range(6))
    assert 0 not in ranks[0].tolist() and ranks[0, -1] == -1
    assert sorted(ranks[0, :-1].tolist()) == [1, 2, 3, 4, 5]
