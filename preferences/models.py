from django.conf import settings
from django.db import models


class SourcePreferenceQuerySet(models.QuerySet["SourcePreference"]):
    def for_user(self, user) -> "SourcePreferenceQuerySet":
        return self.filter(user=user)


class SourcePreference(models.Model):
    """A user's order of sources for one category of data: the first source with enough data wins."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    category = models.CharField(max_length=16)  # a category of healthdata.metrics
    sources = models.JSONField(default=list)  # source slugs, most preferred first
    updated = models.DateTimeField(auto_now=True)

    objects = SourcePreferenceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "category"], name="preference_one_per_category")
        ]

    def __str__(self) -> str:
        return f"{self.category}: {' > '.join(self.sources)}"
