"""story tree: passages linked into trees, story threads; index replies in the Reddit ledger

Revision ID: 0003_story_tree
Revises: 0002_reddit_claims
Create Date: 2026-11-25 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_story_tree"
down_revision: str | None = "0002_reddit_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("user", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
        sa.UniqueConstraint("platform", "channel", name=op.f("uq_stories_platform")),
    )
    op.create_table(
        "passages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("story_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("user", sa.String(length=80), nullable=False),
        sa.Column("asked_by", sa.String(length=80), nullable=True),
        sa.Column("channel", sa.String(length=80), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("new_tokens", sa.Integer(), nullable=True),
        sa.Column("finish_reason", sa.String(length=16), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["passages.id"],
                                name=op.f("fk_passages_parent_id_passages"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"],
                                name=op.f("fk_passages_story_id_stories"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passages")),
        sa.UniqueConstraint("platform", "request_id", name=op.f("uq_passages_platform")),
    )
    with op.batch_alter_table("passages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passages_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_passages_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_passages_story_id"), ["story_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_passages_user"), ["user"], unique=False)
    with op.batch_alter_table("reddit_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reddit_items_reply_fullname"), ["reply_fullname"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reddit_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reddit_items_reply_fullname"))
    with op.batch_alter_table("passages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passages_user"))
        batch_op.drop_index(batch_op.f("ix_passages_story_id"))
        batch_op.drop_index(batch_op.f("ix_passages_state"))
        batch_op.drop_index(batch_op.f("ix_passages_parent_id"))
    op.drop_table("passages")
    op.drop_table("stories")
