"""Which source wins, per metric and local day, and which sessions are the same sleep or workout.

A day's winner is the highest-priority source (the user's order for the metric's category) whose
completeness that day reaches COMPLETENESS_THRESHOLD; when none does, the source with the most
complete data wins, ties going to priority. Every result names its candidates and the reason.
The algorithm and worked examples are in docs/merging.md.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from django.db import connection

from healthdata.metrics import Metric
from healthdata.models import DailyRollup, Session
from healthdata.quality import completeness
from preferences.order import source_order

COMPLETENESS_THRESHOLD = 0.5  # half a day's expected hours (8 of 16 for steps)
SESSION_OVERLAP = 0.5  # of the shorter session
SESSION_DURATION_RATIO = 0.75  # shorter / longer


# Not frozen: a frozen dataclass costs four times as much to build, and a year of days builds hundreds.
@dataclass(slots=True)
class Candidate:
    source: str
    priority: int  # 1 = most preferred
    value: float
    secondary_value: float | None
    coverage_minutes: int
    completeness: float
    quality: int


@dataclass(slots=True)
class Resolved:
    metric: str
    day: date
    source: str
    value: float
    secondary_value: float | None
    quality: int
    rule: str  # preferred | fallback | most_complete | asked_for
    candidates: tuple[Candidate, ...] = ()

    @property
    def winner(self) -> Candidate | None:
        return next((c for c in self.candidates if c.source == self.source), None)

    @property
    def reason(self) -> str:
        """The rule that picked the winner, in a sentence (built only when shown)."""
        winner = self.winner
        share = f"{winner.completeness:.0%}" if winner else "unknown"
        threshold = f"{COMPLETENESS_THRESHOLD:.0%}"
        if self.rule == "preferred":
            return f"{self.source} is the preferred source and its data is complete enough ({share})."
        if self.rule == "fallback":
            skipped = ", ".join(
                f"{c.source} ({c.completeness:.0%})" for c in self.candidates if c.priority < winner.priority
            )
            return (
                f"Preferred {skipped} below {threshold} completeness; "
                f"{self.source} is the next source with enough data ({share})."
            )
        if self.rule == "most_complete":
            return (
                f"No source reaches {threshold} completeness; "
                f"{self.source} has the most complete data ({share})."
            )
        return f"{self.source} was asked for."

    def explain(self) -> dict:
        return {**asdict(self), "reason": self.reason}


def resolve(user, metric: Metric, first: date, last: date) -> dict[date, Resolved]:
    """The winning value of `metric` on each day from `first` to `last` that has data."""
    order = source_order(user, metric.category)
    # A year of days on every request: each source's rank is looked up once, not once per row.
    priorities = {source: position for position, source in enumerate(order, start=1)}
    unlisted = len(order) + 1
    by_day: dict[date, list[Candidate]] = defaultdict(list)
    for day, source, value, secondary, coverage, quality in _rollup_rows(user.pk, metric.code, first, last):
        share = round(completeness(metric, coverage), 3)
        priority = priorities.get(source, unlisted)
        by_day[day].append(Candidate(source, priority, value, secondary, coverage, share, quality))
    return {day: choose(metric, day, candidates) for day, candidates in by_day.items()}


def _rollup_rows(user_id: int, code: str, first: date, last: date) -> list[tuple]:
    # Plain SQL: a year of one metric is read on every aggregate and dashboard request, and building
    # the ORM query cost more CPU than the database took to answer it.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT local_date, source, value, secondary_value, coverage_minutes, quality
            FROM {DailyRollup._meta.db_table}
            WHERE user_id = %s AND metric = %s AND local_date >= %s AND local_date <= %s
            ORDER BY local_date
            """,  # noqa: S608 # nosec B608 - the table name comes from the model, values are parameters
            [user_id, code, first, last],
        )
        return cursor.fetchall()


def candidate(
    metric: Metric,
    order: list[str],
    source: str,
    value: float,
    secondary_value: float | None,
    coverage_minutes: int,
    quality: int,
) -> Candidate:
    """A source's daily rollup as a candidate, ranked by `order` (unlisted sources come last)."""
    priority = order.index(source) + 1 if source in order else len(order) + 1
    share = round(completeness(metric, coverage_minutes), 3)
    return Candidate(source, priority, value, secondary_value, coverage_minutes, share, quality)


def choose(metric: Metric, day: date, candidates: list[Candidate]) -> Resolved:
    """The winner among one day's candidates, and the rule that picked it."""
    if len(candidates) == 1:  # most days of most metrics: nothing to rank
        ranked, winner = candidates, candidates[0]
        rule = "preferred" if winner.completeness >= COMPLETENESS_THRESHOLD else "most_complete"
    else:
        ranked = sorted(candidates, key=lambda candidate: candidate.priority)
        winner, rule = _ranked_winner(ranked)
    # Positional: keyword arguments cost twice as much, and a year of days builds hundreds of these.
    return Resolved(
        metric.code,
        day,
        winner.source,
        winner.value,
        winner.secondary_value,
        winner.quality,
        rule,
        tuple(ranked),
    )


def _ranked_winner(ranked: list[Candidate]) -> tuple[Candidate, str]:
    for position, candidate in enumerate(ranked):
        if candidate.completeness >= COMPLETENESS_THRESHOLD:
            return candidate, "preferred" if position == 0 else "fallback"
    return max(ranked, key=lambda candidate: (candidate.completeness, -candidate.priority)), "most_complete"


def link_duplicate_sessions(user, session_ids: list[int]) -> int:
    """Link each of these sessions to the same sleep or workout from another source; returns links made.

    One query fetches every unlinked session that overlaps the span of them all, whatever many
    sessions a batch brings (an import's hundreds of nights and workouts); each session, in the
    order they were stored, finds its twin there among those not linked meanwhile.
    """
    compared = ("kind", "source", "activity_type", "start", "end")
    sessions = list(
        Session.objects.for_user(user)
        .filter(pk__in=session_ids, duplicate_of__isnull=True)
        .only(*compared)
        .order_by("pk")
    )
    if not sessions:
        return 0
    candidates = (
        Session.objects.for_user(user)
        .filter(kind__in={session.kind for session in sessions}, duplicate_of__isnull=True)
        .overlapping(min(session.start for session in sessions), max(session.end for session in sessions))
    )
    sources = {session.source for session in sessions}
    if len(sources) == 1:  # a twin is another source's: an import's own earlier nights are no candidates
        candidates = candidates.exclude(source__in=sources)
    nearby = Nearby(candidates.only(*compared))
    linked = []
    for session in sessions:
        twin = nearby.twin_of(session)
        if twin is not None:
            session.duplicate_of = twin
            nearby.linked.add(session.pk)
            linked.append(session)
    Session.objects.bulk_update(linked, ["duplicate_of"])
    return len(linked)


class Nearby:
    """Sessions in time order, for finding the ones that overlap a session without reading them all."""

    def __init__(self, sessions: Iterable[Session]) -> None:
        self.sessions = sorted(sessions, key=lambda session: session.start)
        self.starts = [session.start for session in self.sessions]
        self.longest = max((session.end - session.start for session in self.sessions), default=timedelta(0))
        self.linked: set[int] = set()  # linked to a twin since they were read: no longer a twin

    def twin_of(self, session: Session) -> Session | None:
        """The earliest stored session of another source that is the same event as `session`."""
        # Whatever overlaps `session` starts before its end and, lasting at most `longest`, after
        # its start minus that.
        first = bisect_right(self.starts, session.start - self.longest)
        last = bisect_left(self.starts, session.end)
        twins = [
            other
            for other in self.sessions[first:last]
            if other.source != session.source
            and other.end > session.start
            and other.pk not in self.linked
            and is_same_event(session, other)
        ]
        return min(twins, key=lambda other: other.pk, default=None)


def is_same_event(first: Session, second: Session) -> bool:
    """Same kind and type, overlapping for half the shorter one, durations within a quarter."""
    if first.kind != second.kind:
        return False
    types = {first.activity_type, second.activity_type}
    if first.kind == "workout" and len(types) > 1 and "other" not in types:
        return False
    overlap = min(first.end, second.end) - max(first.start, second.start)
    durations = sorted([first.end - first.start, second.end - second.start])
    if durations[0] <= timedelta(0):
        return False
    return overlap / durations[0] >= SESSION_OVERLAP and durations[0] / durations[1] >= SESSION_DURATION_RATIO
