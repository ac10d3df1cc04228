"""Roles: reading a role from input, and who may assign which."""

from __future__ import annotations

from teamgate.roles import Role, role_input


def test_roles() -> None:
    assert role_input("guest") == "VIEWER"
    assert role_input(" member ") == "MEMBER"
    assert role_input("CUSTOM_ROLE-1") == "CUSTOM_ROLE-1"
    assert role_input("bad role!") is None
    assert role_input(5) is None
    assert Role.ADMIN.can_assign(Role.VIEWER)
    assert not Role.DEVELOPER.can_assign(Role.MEMBER)
    assert Role.VIEWER.can_assign(Role.VIEWER)
