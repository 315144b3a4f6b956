from healthdata.metrics import METRICS
from healthdata.quality import (
    FLAGS,
    agreement,
    completeness,
    daily_quality,
    device_kind_of,
    is_at_edge,
    record_quality,
    source_score,
    spike_positions,
)


def test_a_small_additive_amount_is_ordinary_not_at_the_edge():
    assert not is_at_edge(METRICS["steps"], 12)  # a minute's steps
    assert not is_at_edge(METRICS["active_energy"], 0.4)  # a few seconds of an Apple Watch sample


def test_source_kind_ranks_medical_devices_above_wearables_phones_and_manual_entry():
    assert source_score("cuff") > source_score("watch") > source_score("phone") > source_score("manual")
    assert device_kind_of("withings", "") == "scale"
    assert device_kind_of("apple_health", "watch") == "watch"


def test_plausibility_lowers_values_at_the_edge_of_the_range_and_spikes():
    assert is_at_edge(METRICS["heart_rate"], 245)
    assert not is_at_edge(METRICS["heart_rate"], 70)
    assert record_quality(80, 0) == 80
    assert is_at_edge(METRICS["weight"], 10) and is_at_edge(METRICS["steps"], 145_000)
    assert record_quality(80, FLAGS["edge_of_range"]) == 56
    assert record_quality(80, FLAGS["spike"]) == 48


def test_a_sample_far_from_both_close_neighbours_is_a_spike():
    t0 = 1_736_841_600_000_000  # 2025-01-14 08:00 UTC in microseconds
    samples = [
        (t0 + at * 1_000_000, value) for at, value in ((0, 70), (60, 72), (120, 180), (180, 71), (3600, 150))
    ]

    assert spike_positions(samples) == [2]


def test_completeness_grows_with_hours_covered_and_sparse_metrics_are_complete_with_one_reading():
    assert completeness(METRICS["steps"], 8 * 60) == 0.5
    assert completeness(METRICS["steps"], 20 * 60) == 1.0
    assert completeness(METRICS["weight"], 60) == 1.0
    assert daily_quality(METRICS["steps"], 80, 0, 5000, []) == 40
    assert daily_quality(METRICS["steps"], 80, 16 * 60, 5000, []) == 80


def test_agreement_with_other_sources_falls_from_one_to_the_floor():
    assert agreement(100, []) == 1.0
    assert agreement(105, [100]) == 1.0
    assert agreement(130, [100]) == 0.85
    assert agreement(300, [100, 110]) == 0.7
