from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    name = "preferences"

    def export_user_data(self, user, archive) -> None:
        from preferences.models import SourcePreference

        orders = SourcePreference.objects.for_user(user).values("category", "sources", "updated")
        archive.write_json("source_order.json", list(orders))

    def erase_user_data(self, user) -> None:
        from preferences.models import SourcePreference

        SourcePreference.objects.for_user(user).delete()
