"""The Django admin at /admin/ with the custom user."""

import pytest


def test_admin_index_loads_for_staff(client, staff_user):
    client.force_login(staff_user)

    response = client.get("/admin/")

    assert response.status_code == 200
    assert "Health &amp; Fitness Analytics" in response.content.decode()


def test_staff_can_open_the_user_list(client, staff_user, user):
    client.force_login(staff_user)

    response = client.get("/admin/users/user/")

    assert response.status_code == 200
    assert user.email in response.content.decode()


def test_admin_sends_users_who_are_not_staff_to_the_admin_login(client, user):
    client.force_login(user)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_admin_sends_anonymous_visitors_to_the_admin_login(client):
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
