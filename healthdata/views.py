"""Dashboard pages: the overview, one page per category with charts, and goals.

Every page reads the daily rollups (or one day's records for the hourly chart) in a fixed number of
queries, whatever the amount of data; docs/dashboards.md lists each page's query budget.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import fmean

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from healthdata import aggregates
from healthdata.metrics import CATEGORIES, METRICS, Metric, in_category
from healthdata.models import DailyRollup, Goal
from healthdata.resolution import Resolved, candidate, choose
from healthdata.templatetags.display_units import (
    display_unit,
    format_value,
    from_display,
    source_name,
    to_display,
)
from preferences.order import all_orders

# The metrics the overview shows for each of its cards, most telling first.
OVERVIEW = {
    "Steps": ("steps",),
    "Sleep": ("time_asleep", "time_in_bed", "sleep_score"),
    "Resting heart rate": ("resting_heart_rate",),
    "HRV": ("hrv_rmssd", "hrv_sdnn"),
    "Weight": ("weight", "body_fat"),
    "Nutrition": ("energy_intake", "protein", "carbohydrates", "fat"),
    "Recovery": ("recovery_score", "readiness_score", "strain"),
}
# The metric each category page compares sources on by default.
HEADLINE = {
    "activity": "steps",
    "heart": "resting_heart_rate",
    "sleep": "time_asleep",
    "body": "weight",
    "vitals": "spo2",
    "recovery": "readiness_score",
    "workouts": "workout_duration",
    "nutrition": "energy_intake",
}
RANGES = {"day": ("hour", 1), "week": ("day", 7), "month": ("day", 30), "year": ("week", 365)}
OVERVIEW_DAYS = 30
EFFECT_DAYS = 7  # the preferences page shows the winning source of these last days
PRESENCE_DAYS = 90  # a source with data in these last days is listed in the preferences


def local_today(user) -> date:
    return datetime.now(user.zone).date()


def home(request: HttpRequest) -> HttpResponse:
    """The landing page for visitors; the overview dashboard for a signed-in user."""
    if not request.user.is_authenticated:
        return render(request, "landing.html")
    today = local_today(request.user)
    cards = overview_cards(request.user, today)
    has_data = any(row.has_data for card in cards for row in card["rows"])
    return render(request, "healthdata/overview.html", {"cards": cards, "has_data": has_data, "today": today})


@dataclass
class Span:
    """A metric's resolved value over some days: one day's value, or the mean of a few days."""

    value: float | None = None
    sources: list[str] = field(default_factory=list)
    quality: int | None = None
    days: int = 0


@dataclass
class OverviewRow:
    metric: Metric
    today: Span
    week: Span
    month: Span

    @property
    def has_data(self) -> bool:
        return self.month.days > 0

    @property
    def periods(self) -> list[tuple[str, Span]]:
        return [("Today", self.today), ("Last 7 days", self.week), ("Last 30 days", self.month)]


def overview_cards(user, today: date) -> list[dict]:
    """Today, the last 7 and the last 30 days of every overview metric: two queries in all."""
    codes = [code for codes in OVERVIEW.values() for code in codes]
    resolved = resolved_days(user, codes, today - timedelta(days=OVERVIEW_DAYS - 1), today)
    cards = []
    for title, card_codes in OVERVIEW.items():
        rows = [overview_row(METRICS[code], resolved.get(code, {}), today) for code in card_codes]
        shown = [row for row in rows if row.has_data] or rows[:1]
        cards.append({"title": title, "rows": shown, "category": shown[0].metric.category})
    return cards


def resolved_days(user, codes: list[str], first: date, last: date) -> dict[str, dict[date, Resolved]]:
    """The winning source's value of each metric on each day with data, read in two queries."""
    orders = all_orders(user)
    rows = (
        DailyRollup.objects.for_user(user)
        .filter(metric__in=codes)
        .on_days(first, last)
        .values_list(
            "metric", "local_date", "source", "value", "secondary_value", "coverage_minutes", "quality"
        )
    )
    candidates: dict[tuple[str, date], list] = defaultdict(list)
    for code, day, source, *values in rows:
        metric = METRICS[code]
        candidates[code, day].append(candidate(metric, orders[metric.category], source, *values))
    resolved: dict[str, dict[date, Resolved]] = defaultdict(dict)
    for (code, day), ranked in candidates.items():
        resolved[code][day] = choose(METRICS[code], day, ranked)
    return resolved


def overview_row(metric: Metric, days: dict[date, Resolved], today: date) -> OverviewRow:
    return OverviewRow(
        metric=metric,
        today=span(metric, days, today, 1),
        week=span(metric, days, today, 7),
        month=span(metric, days, today, OVERVIEW_DAYS),
    )


def span(metric: Metric, days: dict[date, Resolved], last: date, length: int) -> Span:
    """The days' value: a daily mean for amounts and readings alike, or the latest for `last` metrics."""
    first = last - timedelta(days=length - 1)
    members = [days[day] for day in sorted(days) if first <= day <= last]
    if not members:
        return Span()
    value = members[-1].value if metric.aggregation == "last" else fmean(m.value for m in members)
    return Span(
        value=value,
        sources=sorted({m.source for m in members}),
        quality=round(fmean(m.quality for m in members)),
        days=len(members),
    )


@login_required
def category(request: HttpRequest, category: str) -> HttpResponse:
    """One category: a chart per metric with data, over a day, week, month or year, and a comparison."""
    if category not in CATEGORIES:
        raise Http404("Unknown category.")
    range_name = request.GET.get("range", "week")
    if range_name not in RANGES:
        return render(request, "errors/400.html", {"message": "Unknown range."}, status=400)
    metrics = in_category(category)
    compare = METRICS.get(request.GET.get("compare", HEADLINE[category]))
    if compare is None or compare.category != category:
        return render(request, "errors/400.html", {"message": "Unknown metric to compare."}, status=400)
    user, units = request.user, request.user.units
    start, end = range_bounds(user, range_name)
    present = metrics_with_data(user, metrics, start, end)
    charts = [chart(user, metric, range_name, start, end, units) for metric in present]
    context = {
        "category": category,
        "categories": CATEGORIES,
        "range": range_name,
        "ranges": list(RANGES),
        "charts": charts,
        "compare": compare,
        "comparable": metrics,
        "comparison": comparison(user, compare, start, end, units),
    }
    return render(request, "healthdata/category.html", context)


def range_bounds(user, range_name: str) -> tuple[datetime, datetime]:
    """[start, end) of a range ending with today in the user's time zone."""
    today = local_today(user)
    days = RANGES[range_name][1]
    start = datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=user.zone)
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=user.zone)
    return start, end


def metrics_with_data(user, metrics: list[Metric], start: datetime, end: datetime) -> list[Metric]:
    """The category's metrics that have a rollup in the range, in registry order: one query."""
    first, last = start.date(), (end - timedelta(days=1)).date()
    codes = set(
        DailyRollup.objects.for_user(user)
        .filter(metric__in=[metric.code for metric in metrics])
        .on_days(first, last)
        .values_list("metric", flat=True)
        .distinct()
    )
    return [metric for metric in metrics if metric.code in codes]


def chart(user, metric: Metric, range_name: str, start: datetime, end: datetime, units: str) -> dict:
    """One metric's series, converted to the user's units, as the chart script reads it."""
    series = aggregates.aggregate(user, metric, RANGES[range_name][0], start, end, user.zone)
    points = [
        {
            "t": bucket_timestamp(bucket.start, user.zone),
            "when": bucket_label(bucket.start, range_name),
            "v": to_display(metric.code, bucket.value, units),
            "label": format_value(metric.code, bucket.value, units),
            "sources": bucket.sources,
            "quality": bucket.quality,
        }
        for bucket in series.buckets
    ]
    latest = series.buckets[-1] if series.buckets else None
    return {
        "id": f"chart-{metric.code}",
        "data_id": f"chart-{metric.code}-data",
        "metric": metric,
        "unit": display_unit(metric.code, units).label,
        "data": {
            "label": metric.label,
            "unit": display_unit(metric.code, units).label,
            "timezone": user.timezone,
            "bucket": RANGES[range_name][0],
            "start": int(start.timestamp()),
            "end": int(end.timestamp()),
            "points": points,
        },
        "latest": latest,
        "latest_label": format_value(metric.code, latest.value, units) if latest else "",
    }


def bucket_timestamp(start: datetime | date, zone) -> int:
    if not isinstance(start, datetime):
        start = datetime.combine(start, time(12), tzinfo=zone)
    return int(start.timestamp())


def bucket_label(start: datetime | date, range_name: str) -> str:
    if isinstance(start, datetime):
        return f"{start:%H:%M}"
    if range_name == "year":
        return f"Week of {start:%d %b %Y}"
    return f"{start:%a %d %b %Y}"


def comparison(user, metric: Metric, start: datetime, end: datetime, units: str) -> dict:
    """Every source's own daily values of one metric side by side: one query."""
    first, last = start.date(), (end - timedelta(days=1)).date()
    rows = (
        DailyRollup.objects.for_user(user)
        .filter(metric=metric.code)
        .on_days(first, last)
        .order_by("local_date")
        .values_list("source", "local_date", "value", "quality")
    )
    by_source: dict[str, list] = defaultdict(list)
    for source, day, value, quality in rows:
        by_source[source].append((day, value, quality))
    sources = []
    for source, days in sorted(by_source.items()):
        mean = fmean(value for _, value, _ in days)
        sources.append(
            {
                "source": source,
                "name": source_name(source),
                "days": len(days),
                "mean": format_value(metric.code, mean, units),
                "quality": round(fmean(quality for _, _, quality in days)),
                "points": [
                    {"t": bucket_timestamp(day, user.zone), "v": to_display(metric.code, value, units)}
                    for day, value, _ in days
                ],
            }
        )
    unit = display_unit(metric.code, units).label
    data = {
        "label": metric.label,
        "unit": unit,
        "timezone": user.timezone,
        "bucket": "day",
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
        "sources": sources,
    }
    return {"metric": metric, "sources": sources, "data": data}


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """Every category with data: its sources in order and which source won each of the last days."""
    user = request.user
    today = datetime.now(user.zone).date()
    orders = all_orders(user)
    present = sources_with_data(user, today - timedelta(days=PRESENCE_DAYS))
    days = [today - timedelta(days=offset) for offset in range(EFFECT_DAYS - 1, -1, -1)]
    headlines = [HEADLINE[category] for category in CATEGORIES]
    winners = resolved_days(user, headlines, days[0], today)
    categories = [
        {
            "name": category,
            "sources": [source for source in orders[category] if source in present.get(category, ())],
            "metric": METRICS[HEADLINE[category]],
            "winners": [(day, winners.get(HEADLINE[category], {}).get(day)) for day in days],
        }
        for category in CATEGORIES
    ]
    shown = [category for category in categories if category["sources"]]
    return render(request, "preferences/preferences.html", {"categories": shown, "days": days})


def sources_with_data(user, since) -> dict[str, set[str]]:
    """The sources with a daily rollup since `since`, by category: one query."""
    pairs = (
        DailyRollup.objects.for_user(user)
        .filter(local_date__gte=since)
        .values_list("metric", "source")
        .distinct()
    )
    present: dict[str, set[str]] = {}
    for code, source in pairs:
        metric = METRICS.get(code)
        if metric is not None:
            present.setdefault(metric.category, set()).add(source)
    return present


class GoalForm(forms.Form):
    metric = forms.ChoiceField(label="What")
    target = forms.FloatField(label="Target")
    period = forms.ChoiceField(label="Per", choices=[(p, p) for p in Goal.PERIODS])
    comparison = forms.ChoiceField(
        label="Direction", choices=[("at_least", "at least"), ("at_most", "at most")]
    )

    def __init__(self, *args, units: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.units = units
        self.fields["metric"].choices = [
            (m.code, f"{m.label} ({display_unit(m.code, units).label or 'count'})")
            for m in METRICS.values()
            if m.can_have_goal
        ]

    def clean(self) -> dict:
        data = super().clean()
        if "metric" not in data or "target" not in data:
            return data
        metric = METRICS[data["metric"]]
        target = from_display(metric.code, data["target"], self.units)
        low, high = metric.plausible
        days = {"day": 1, "week": 7, "month": 31}[data.get("period", "day")]
        ceiling = high * days if metric.is_additive else high
        if not low <= target <= ceiling:
            lowest, highest = (format_value(metric.code, bound, self.units) for bound in (low, ceiling))
            raise forms.ValidationError({"target": f"Choose a target between {lowest} and {highest}."})
        data["canonical_target"] = target
        return data


@login_required
def goals(request: HttpRequest) -> HttpResponse:
    """The user's goals with progress in the current period, and a form to add one."""
    user = request.user
    form = GoalForm(request.POST or None, units=user.units)
    if request.method == "POST" and form.is_valid():
        Goal.objects.create(
            user=user,
            metric=form.cleaned_data["metric"],
            target=form.cleaned_data["canonical_target"],
            period=form.cleaned_data["period"],
            comparison=form.cleaned_data["comparison"],
        )
        messages.success(request, "Goal saved.")
        return redirect("healthdata:goals")
    status = 400 if request.method == "POST" else 200
    rows = [goal_progress(user, goal) for goal in Goal.objects.for_user(user).order_by("id")]
    return render(request, "healthdata/goals.html", {"form": form, "rows": rows}, status=status)


def goal_progress(user, goal: Goal) -> dict:
    """The goal's current period so far: its value, whether it is met, and the share reached."""
    metric = METRICS[goal.metric]
    today = local_today(user)
    first = period_start(goal.period, today)
    start = datetime.combine(first, time.min, tzinfo=user.zone)
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=user.zone)
    series = aggregates.aggregate(user, metric, goal.period, start, end, user.zone)
    value = series.buckets[-1].value if series.buckets else None
    percent = min(100, round(100 * value / goal.target)) if value is not None and goal.target else 0
    return {
        "goal": goal,
        "metric": metric,
        "value": value,
        "met": goal.is_met_by(value),
        "percent": percent if goal.comparison == "at_least" else (100 if goal.is_met_by(value) else 0),
        "since": first,
    }


def period_start(period: str, day: date) -> date:
    """The first day of the day, week (Monday) or month that `day` is in, as the aggregate API buckets."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


@login_required
@require_POST
def goal_delete(request: HttpRequest, pk: int) -> HttpResponse:
    goal = get_object_or_404(Goal.objects.for_user(request.user), pk=pk)
    goal.delete()
    messages.success(request, "Goal deleted.")
    return redirect("healthdata:goals")
