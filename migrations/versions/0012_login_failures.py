"""Failed logins counted per name and address (login_failure); the per-user counters go.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=40), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure'))
    )
    op.create_index('ix_login_failure_at', 'login_failure', ['at'], unique=False)
    op.create_index('ix_login_failure_username_at', 'login_failure', ['username', 'at'], unique=False)
    op.create_index('ix_login_failure_ip_at', 'login_failure', ['ip', 'at'], unique=False)
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy would drop and re-create
    # "user", and with foreign keys on that deletes every row that refers to it.
    op.drop_column('user', 'failed_logins')
    op.drop_column('user', 'locked_until')


def downgrade():
    op.add_column('user', sa.Column('locked_until', sa.DateTime(), nullable=True))
    op.add_column('user', sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
    op.drop_index('ix_login_failure_ip_at', table_name='login_failure')
    op.drop_index('ix_login_failure_username_at', table_name='login_failure')
    op.drop_index('ix_login_failure_at', table_name='login_failure')
    op.drop_table('login_failure')
