"""Changing a category's source order with up and down buttons (the page itself is
healthdata.views.preferences, since showing the effect needs the resolved values)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from healthdata.metrics import CATEGORIES, SOURCES
from healthdata.templatetags.display_units import source_name
from preferences.order import all_orders, replace_order


@login_required
@require_POST
def move_source(request: HttpRequest) -> HttpResponse:
    """Move one source up or down past its neighbour among the category's sources with data."""
    category, source = request.POST.get("category", ""), request.POST.get("source", "")
    direction = request.POST.get("direction", "")
    shown = request.POST.getlist("shown")
    if (
        category not in CATEGORIES
        or source not in SOURCES
        or direction not in ("up", "down")
        or source not in shown
    ):
        return render(request, "errors/400.html", status=400)
    order = all_orders(request.user)[category]
    replace_order(request.user, category, moved(order, shown, source, direction))
    messages.success(request, f"{source_name(source)} moved {direction} in {category}.")
    return redirect(f"{reverse('healthdata:preferences')}#category-{category}")


def moved(order: list[str], shown: list[str], source: str, direction: str) -> list[str]:
    """`order` with `source` moved just past its neighbour among `shown` (the sources the page listed)."""
    visible = [item for item in order if item in shown]
    index = visible.index(source)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(visible):
        return order
    result = [item for item in order if item != source]
    position = result.index(visible[other]) + (0 if direction == "up" else 1)
    result.insert(position, source)
    return result
