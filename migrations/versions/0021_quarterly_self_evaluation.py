"""Quarterly self-evaluation (季度自评, 篇三): a grid's own scores per item, rated by the level above.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 16:26:45.264865

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assessment_self_eval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('rater_grid_id', sa.Integer(), nullable=False),
    sa.Column('subject_kind', sa.String(length=20), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('scheme_id', sa.Integer(), nullable=True),
    sa.Column('scheme_name', sa.String(length=80), nullable=False),
    sa.Column('scheme_version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('self_total', sa.Numeric(precision=7, scale=1), nullable=True),
    sa.Column('rated_total', sa.Numeric(precision=7, scale=1), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('rating_summary', sa.Text(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('rated_at', sa.DateTime(), nullable=True),
    sa.Column('rated_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_assessment_self_eval_grid_id_grid'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rated_by_id'], ['user.id'], name=op.f('fk_assessment_self_eval_rated_by_id_user')),
    sa.ForeignKeyConstraint(['rater_grid_id'], ['grid.id'], name=op.f('fk_assessment_self_eval_rater_grid_id_grid')),
    sa.ForeignKeyConstraint(['scheme_id'], ['assessment_scheme.id'], name=op.f('fk_assessment_self_eval_scheme_id_assessment_scheme'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['user.id'], name=op.f('fk_assessment_self_eval_submitted_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_self_eval')),
    sa.UniqueConstraint('grid_id', 'period_start', name='uq_assessment_self_eval_grid_period')
    )
    with op.batch_alter_table('assessment_self_eval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_self_eval_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assessment_self_eval_rater_grid_id'), ['rater_grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assessment_self_eval_state'), ['state'], unique=False)

    op.create_table('assessment_self_eval_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('to_state', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_assessment_self_eval_event_actor_id_user')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['assessment_self_eval.id'], name=op.f('fk_assessment_self_eval_event_evaluation_id_assessment_self_eval'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_self_eval_event'))
    )
    with op.batch_alter_table('assessment_self_eval_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_self_eval_event_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assessment_self_eval_event_evaluation_id'), ['evaluation_id'], unique=False)

    op.create_table('assessment_self_eval_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('proposed', sa.Numeric(precision=7, scale=1), nullable=True),
    sa.Column('proposed_note', sa.String(length=300), nullable=False),
    sa.Column('self_score', sa.Numeric(precision=7, scale=1), nullable=True),
    sa.Column('self_comment', sa.String(length=300), nullable=False),
    sa.Column('rated_score', sa.Numeric(precision=7, scale=1), nullable=True),
    sa.Column('rated_comment', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['evaluation_id'], ['assessment_self_eval.id'], name=op.f('fk_assessment_self_eval_line_evaluation_id_assessment_self_eval'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['assessment_item.id'], name=op.f('fk_assessment_self_eval_line_item_id_assessment_item'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_self_eval_line'))
    )
    with op.batch_alter_table('assessment_self_eval_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_self_eval_line_evaluation_id'), ['evaluation_id'], unique=False)



def downgrade():
    with op.batch_alter_table('assessment_self_eval_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_self_eval_line_evaluation_id'))

    op.drop_table('assessment_self_eval_line')
    with op.batch_alter_table('assessment_self_eval_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_self_eval_event_evaluation_id'))
        batch_op.drop_index(batch_op.f('ix_assessment_self_eval_event_actor_id'))

    op.drop_table('assessment_self_eval_event')
    with op.batch_alter_table('assessment_self_eval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_self_eval_state'))
        batch_op.drop_index(batch_op.f('ix_assessment_self_eval_rater_grid_id'))
        batch_op.drop_index(batch_op.f('ix_assessment_self_eval_grid_id'))

    op.drop_table('assessment_self_eval')
