"""A township's or village's own wording of 定职责, 定任务 and 定奖惩 per kind of agreement, with placeholders for the grid's figures.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 05:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'agreement_wording',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('grid_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('duties', sa.Text(), nullable=False),
        sa.Column('tasks', sa.Text(), nullable=False),
        sa.Column('rewards', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_agreement_wording_grid_id_grid'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_wording')),
        sa.UniqueConstraint('grid_id', 'kind', name='uq_agreement_wording_grid_kind'),
    )


def downgrade():
    op.drop_table('agreement_wording')
