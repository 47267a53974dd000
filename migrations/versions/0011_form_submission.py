"""One key per submitted form that creates a record (form_submission), for every create form; the
visits' own key column moves there. Form fields sent after the session timed out (form_stash).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'form_submission',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('endpoint', sa.String(length=80), nullable=False),
        sa.Column('record_table', sa.String(length=40), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name='fk_form_submission_user_id_user'),
        sa.PrimaryKeyConstraint('id', name='pk_form_submission'),
        sa.UniqueConstraint('key', name='uq_form_submission_key'),
    )
    op.create_table(
        'form_stash',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('path', sa.String(length=400), nullable=False),
        sa.Column('fields', sa.Text(), nullable=False),
        sa.Column('had_files', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name='fk_form_stash_user_id_user', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_form_stash'),
        sa.UniqueConstraint('token', name='uq_form_stash_token'),
    )
    op.create_index('ix_form_stash_user_id', 'form_stash', ['user_id'])
    # Keys of visits already saved keep working (a retry of a visit saved before the upgrade).
    # A key two users happened to share (never with keys made by the form) gets the visit's id in front.
    for having, key in (("= 1", "idempotency_key"), ("> 1", "substr('v' || id || '-' || idempotency_key, 1, 64)")):
        op.execute("INSERT INTO form_submission (key, user_id, endpoint, record_table, record_id, created_at) "
                   f"SELECT {key}, user_id, 'visits.new', 'visit', id, created_at FROM visit "
                   "WHERE idempotency_key IN (SELECT idempotency_key FROM visit GROUP BY idempotency_key "
                   f"HAVING COUNT(*) {having})")
    with op.batch_alter_table('visit') as batch:
        batch.drop_constraint('uq_visit_user_key', type_='unique')
        batch.drop_column('idempotency_key')


def downgrade():
    with op.batch_alter_table('visit') as batch:
        batch.add_column(sa.Column('idempotency_key', sa.String(length=64), nullable=True))
    op.execute("UPDATE visit SET idempotency_key = 'v' || id")
    with op.batch_alter_table('visit') as batch:
        batch.alter_column('idempotency_key', nullable=False)
        batch.create_unique_constraint('uq_visit_user_key', ['user_id', 'idempotency_key'])
    op.drop_table('form_submission')
    op.drop_index('ix_form_stash_user_id', table_name='form_stash')
    op.drop_table('form_stash')
