"""The tables, together, because they reference each other. Times are UTC epoch seconds."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("invites_enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", BigInteger, nullable=False),
    # The account policy (see accounts/policy.py).
    Column(
        "who_can_invite", String(20), nullable=False, server_default=text("'ADMINS_AND_MEMBERS'")
    ),
    Column("invite_lifetime_days", Integer, nullable=False, server_default=text("7")),
    Column("seat_limit", Integer, nullable=True),  # NULL: no limit
)

# An empty set of domains for an account allows invitations to any domain.
account_email_domains = Table(
    "account_email_domains",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("domain", String(255), primary_key=True),
)

# A user whose password was chosen through an invitation link is unverified: the link's inviter
# held it too, so nobody has proven the address. Their password then opens only the account
# whose link set it (``unverified_account_id``); NULL once the identity is vouched for (created
# by the operator, or, later, proven by a message sent to the address).
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("unverified_account_id", Integer, nullable=True),
    # Where a login starts: the account the user last signed in to or switched to.
    Column("last_account_id", Integer, nullable=True),
)
# Searching the team list by a prefix of the email or of the name, any case: ranges in code
# point order (see team/listing.py). SQLite's unique index on email already orders that way;
# PostgreSQL's default collation may not, so its indexes name "C". Alembic cannot compare
# expression indexes, so `teamgate db check` leaves these out (tests/test_migrations.py reads
# them back from the database instead).
PREFIX_SEARCH_INDEXES = frozenset(
    {"ix_users_lower_name", "ix_users_email_c", "ix_users_lower_name_c"}
)
Index("ix_users_lower_name", func.lower(users.c.name)).ddl_if(dialect="sqlite")
Index("ix_users_email_c", users.c.email.collate("C")).ddl_if(dialect="postgresql")
Index("ix_users_lower_name_c", func.lower(users.c.name).collate("C")).ddl_if(dialect="postgresql")

memberships = Table(
    "memberships",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(50), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("account_id", "user_id"),
    Index("ix_memberships_user_id", "user_id"),
    # The team list's keyset pages: an account's members in order, all or of one role.
    Index("ix_memberships_account_id_id", "account_id", "id"),
    Index("ix_memberships_account_id_role_id", "account_id", "role", "id"),
)

custom_roles = Table(
    "custom_roles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(50), nullable=False),
    Column("base_role", String(20), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("account_id", "name"),
)

# One row per pending invitation; accepting, replacing or revoking it deletes or rewrites the
# row, so the row (and its jti) is the single source of truth for whether a code still works.
invitations = Table(
    "invitations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=True),
    Column("role", String(50), nullable=False),
    Column("inviter_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("jti", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    UniqueConstraint("account_id", "email"),
    Index("ix_invitations_account_id_id", "account_id", "id"),
    Index("ix_invitations_account_id_role_id", "account_id", "role", "id"),
)

# Email waiting to be delivered, and what became of it: one row per message, written in the
# transaction that makes its reason (an invitation). The body is rendered when it is sent, from
# the invitation it names (``invitation_jti``), so no link is stored here and a message whose
# invitation was replaced, revoked or accepted meanwhile is dropped, never sent dead.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    # NULL for mail to a person rather than about an account (a password link)
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("kind", String(30), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("invitation_jti", String(64), nullable=True),
    Column("password_reset_id", Integer, nullable=True),  # or the password reset it is for
    Column("about_email", String(320), nullable=True),  # or the person who asks to be invited
    Column("origin", String(300), nullable=True),  # where the message's link points
    Column("message_key", String(64), nullable=False, unique=True),  # its Message-ID
    # queued, sending (claimed by a worker until claimed_until), retrying, sent, failed, dropped
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("claimed_until", BigInteger, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_outbox_invitation_jti", "invitation_jti"),
)

# A link to set or reset a password, sent to the address: one use, one hour. The token is the
# nonce and an HMAC of it under the server's key, so the table holds nothing that opens it.
password_resets = Table(
    "password_resets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("nonce", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Index("ix_password_resets_user_id", "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_api_keys_account_user", "account_id", "user_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_sessions_account_user", "account_id", "user_id"),
)

# The first-run setup link: at most one row, deleted when used.
setup_tokens = Table(
    "setup_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# The membership history: append-only. ``actor`` is the acting user's email, or ``cli`` for
# the operator's commands; ``role_before``/``role_after`` carry membership changes, from which
# "who was a member at time T" is replayed; ``detail`` is a JSON object (never a secret).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("account_id", Integer, nullable=True),
    Column("actor_user_id", Integer, nullable=True),
    Column("actor", String(320), nullable=True),
    Column("action", String(50), nullable=False),
    Column("target", String(320), nullable=True),
    Column("role_before", String(50), nullable=True),
    Column("role_after", String(50), nullable=True),
    Column("outcome", String(20), nullable=False),
    Column("detail", Text, nullable=True),
    Index("ix_audit_log_account_at", "account_id", "at"),
    Index("ix_audit_log_account_id", "account_id", "id"),
)
