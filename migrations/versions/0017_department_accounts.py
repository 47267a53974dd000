"""Departments with accounts: a department belongs to a level (a county or township grid); users of the department role name their department; a case can
have co-handling departments (联合执法), each with its own answer; a category names the level that
approves its 需审批 cases.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 12:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE … ADD COLUMN: a batch copy would drop and re-create "department" and "user",
    # which other tables refer to (see 0012).
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference in one statement (no ALTER … ADD CONSTRAINT).
        op.execute('ALTER TABLE department ADD COLUMN grid_id INTEGER '
                   'CONSTRAINT fk_department_grid_id_grid REFERENCES grid (id)')
        op.execute('ALTER TABLE "user" ADD COLUMN department_id INTEGER '
                   'CONSTRAINT fk_user_department_id_department REFERENCES department (id)')
    else:
        op.add_column('department', sa.Column('grid_id', sa.Integer(), nullable=True))
        op.add_column('user', sa.Column('department_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_department_grid_id_grid', 'department', 'grid', ['grid_id'], ['id'])
        op.create_foreign_key('fk_user_department_id_department', 'user', 'department', ['department_id'], ['id'])
    op.create_index('ix_department_grid_id', 'department', ['grid_id'], unique=False)
    op.create_index('ix_user_department_id', 'user', ['department_id'], unique=False)
    op.create_table(
        'case_co_department',
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('cases.id', name='fk_case_co_department_case_id_cases'),
                  nullable=False),
        sa.Column('department_id', sa.Integer(),
                  sa.ForeignKey('department.id', name='fk_case_co_department_department_id_department'),
                  nullable=False),
        sa.Column('replied_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('case_id', 'department_id', name='pk_case_co_department'),
    )
    op.create_index('ix_case_co_department_department_id', 'case_co_department', ['department_id'])
    op.add_column('case_category', sa.Column('approval_level', sa.String(length=32), nullable=False,
                                             server_default=''))


def downgrade():
    op.drop_column('case_category', 'approval_level')
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index('ix_case_co_department_department_id', table_name='case_co_department')
    op.drop_table('case_co_department')
    if not sqlite:
        op.drop_constraint('fk_user_department_id_department', 'user', type_='foreignkey')
        op.drop_constraint('fk_department_grid_id_grid', 'department', type_='foreignkey')
    op.drop_index('ix_user_department_id', table_name='user')
    op.drop_column('user', 'department_id')
    op.drop_index('ix_department_grid_id', table_name='department')
    op.drop_column('department', 'grid_id')
