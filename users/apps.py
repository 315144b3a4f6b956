from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users"

    def ready(self) -> None:
        from users import audit  # noqa: F401 - connects the sign-in signals

    def export_user_data(self, user, archive) -> None:
        from users.export import export_own_data

        export_own_data(user, archive)

    def erase_user_data(self, user) -> None:
        from users.erasure import erase_own_data

        erase_own_data(user)
