"""reddit ledger claims: which bot process answers a summons, and until when

Revision ID: 0002_reddit_claims
Revises: 0001
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_reddit_claims"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reddit_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=96), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reddit_items", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
