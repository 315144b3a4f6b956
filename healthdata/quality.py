"""The 0-100 quality score of records and daily values; the formula is in docs/quality.md."""

from statistics import median

from healthdata.metrics import SOURCES, Metric

# Points for the kind of device a value came from: medical-grade devices measure best.
SOURCE_KIND_SCORES = {
    "cuff": 95,
    "meter": 95,
    "scale": 90,
    "watch": 85,
    "ring": 85,
    "band": 80,
    "phone": 70,
    "file": 65,
    "manual": 60,
    "other": 60,
}
EDGE_SHARE = 0.05  # the outer 5 % of a plausible range at either end is unusual
EDGE_PLAUSIBILITY = 0.7
SPIKE_PLAUSIBILITY = 0.6
SPIKE_JUMP = 0.4  # a sample 40 % away from both neighbours ...
SPIKE_WINDOW_SECONDS = 600  # ... that are at most 10 minutes away is a spike
AGREEMENT_TOLERANCE = 0.10
AGREEMENT_FLOOR = 0.7
AGREEMENT_FLOOR_AT = 0.50
LOW_QUALITY = 50

FLAGS = {
    "edge_of_range": 1,
    "spike": 2,
    "converted": 4,
    "low_quality": 8,
    "no_offset": 16,
}


def flag_names(flags: int) -> list[str]:
    return [name for name, bit in FLAGS.items() if flags & bit]


def device_kind_of(source: str, device_kind: str) -> str:
    """The record's own device kind, else the usual one of its source."""
    if device_kind in SOURCE_KIND_SCORES:
        return device_kind
    return SOURCES.get(source, "other")


def source_score(device_kind: str) -> int:
    return SOURCE_KIND_SCORES.get(device_kind, SOURCE_KIND_SCORES["other"])


def usual_range(metric: Metric) -> tuple[float, float]:
    """The plausible range without its outer 5 % edges. An additive amount has no low edge: a few
    steps or kilocalories in a short interval are ordinary, not unusual."""
    low, high = metric.plausible
    margin = (high - low) * EDGE_SHARE
    return (low if metric.is_additive else low + margin), high - margin


def is_at_edge(metric: Metric, value: float) -> bool:
    usual_low, usual_high = usual_range(metric)
    return not usual_low <= value <= usual_high


def record_quality(kind_score: int, flags: int) -> int:
    """Source-kind points scaled by plausibility (range edge, spike)."""
    plausibility = 1.0
    if flags & FLAGS["edge_of_range"]:
        plausibility = min(plausibility, EDGE_PLAUSIBILITY)
    if flags & FLAGS["spike"]:
        plausibility = min(plausibility, SPIKE_PLAUSIBILITY)
    return round(kind_score * plausibility)


def spike_positions(samples: list[tuple[int, float]]) -> list[int]:
    """Positions of samples (time in microseconds, value), in time order, far from both close neighbours."""
    values = [value for _, value in samples]
    window = SPIKE_WINDOW_SECONDS * 1_000_000
    spikes = []
    for position in range(1, len(values) - 1):
        before, value, after = values[position - 1], values[position], values[position + 1]
        # The value test comes first: it is cheap, and it fails for nearly every sample.
        if abs(value - before) <= SPIKE_JUMP * abs(before) or abs(value - after) <= SPIKE_JUMP * abs(after):
            continue
        if not before or not after:
            continue
        (before_at, _), (at, _), (after_at, _) = samples[position - 1 : position + 2]
        if at - before_at <= window >= after_at - at:
            spikes.append(position)
    return spikes


def completeness(metric: Metric, coverage_minutes: int) -> float:
    """Share of a full day's data present: 1 for sparse metrics with any reading."""
    if metric.is_sparse or metric.shape in ("session", "daily"):
        return 1.0 if coverage_minutes else 0.0
    return min(1.0, coverage_minutes / (metric.daily_hours * 60))


def agreement(value: float, others: list[float]) -> float:
    """1 when the other sources' median is within 10 %, falling to 0.7 at 50 % apart."""
    if not others:
        return 1.0
    reference = median(others)
    if reference == 0:
        return 1.0 if value == 0 else AGREEMENT_FLOOR
    difference = abs(value - reference) / abs(reference)
    if difference <= AGREEMENT_TOLERANCE:
        return 1.0
    if difference >= AGREEMENT_FLOOR_AT:
        return AGREEMENT_FLOOR
    share = (difference - AGREEMENT_TOLERANCE) / (AGREEMENT_FLOOR_AT - AGREEMENT_TOLERANCE)
    return 1.0 - share * (1.0 - AGREEMENT_FLOOR)


def daily_quality(
    metric: Metric, mean_record_quality: float, coverage_minutes: int, value: float, others: list[float]
) -> int:
    """Mean record quality x (0.5 + 0.5 x completeness) x agreement, rounded to 0-100."""
    score = mean_record_quality * (0.5 + 0.5 * completeness(metric, coverage_minutes))
    return max(0, min(100, round(score * agreement(value, others))))
