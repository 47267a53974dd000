"""Meetings (kinds, attendance, decisions, follow-ups), responsibility agreements (versions, signatures, scans), notice-board settings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 00:42:37.250534

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


# The kinds every installation starts with (篇二 quarterly grid meeting, 篇四 三级例会);
# app.meetings.service.DEFAULT_KINDS holds the same list.
DEFAULT_KINDS = [
    ("grid_quarterly", "网格季度例会", 3, "natural_village", "二级网格长、全体三级网格员"),
    ("team_monthly", "网格服务团队月例会", 1, "cluster", "网格服务团队全体成员"),
    ("village_monthly", "行政村网格月例会", 1, "village", "村两委、各网格服务团队相关人员"),
    ("town_monthly", "乡镇网格工作月例会", 1, "town", "乡镇网格办、各片区网格服务团队负责人"),
]


def upgrade():
    op.create_table('agreement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('series_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('party_a', sa.String(length=80), nullable=False),
    sa.Column('party_a_rep', sa.String(length=40), nullable=False),
    sa.Column('party_b', sa.String(length=80), nullable=False),
    sa.Column('party_b_rep', sa.String(length=40), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('area', sa.Text(), nullable=False),
    sa.Column('people', sa.Text(), nullable=False),
    sa.Column('duties', sa.Text(), nullable=False),
    sa.Column('tasks', sa.Text(), nullable=False),
    sa.Column('rewards', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('verify_code', sa.String(length=32), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=True),
    sa.Column('signed_at', sa.DateTime(), nullable=True),
    sa.Column('replaced_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_agreement_created_by_id_user')),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_agreement_grid_id_grid')),
    sa.ForeignKeyConstraint(['replaced_by_id'], ['agreement.id'], name=op.f('fk_agreement_replaced_by_id_agreement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement')),
    sa.UniqueConstraint('verify_code', name=op.f('uq_agreement_verify_code'))
    )
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreement_series_id'), ['series_id'], unique=False)

    op.create_table('grid_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('services', sa.Text(), nullable=False),
    sa.Column('complaint_phone', sa.String(length=40), nullable=False),
    sa.Column('office_hours', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_grid_notice_grid_id_grid'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_notice')),
    sa.UniqueConstraint('grid_id', name=op.f('uq_grid_notice_grid_id'))
    )
    op.create_table('meeting_kind',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=True),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('cadence_months', sa.Integer(), nullable=False),
    sa.Column('level_key', sa.String(length=32), nullable=False),
    sa.Column('attendees', sa.String(length=200), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_meeting_kind_grid_id_grid'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_kind')),
    sa.UniqueConstraint('key', name=op.f('uq_meeting_kind_key'))
    )
    with op.batch_alter_table('meeting_kind', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_kind_grid_id'), ['grid_id'], unique=False)

    op.create_table('agreement_scan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('mime_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_agreement_scan_agreement_id_agreement'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user.id'], name=op.f('fk_agreement_scan_uploaded_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_scan'))
    )
    with op.batch_alter_table('agreement_scan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_scan_agreement_id'), ['agreement_id'], unique=False)

    op.create_table('agreement_signature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('party', sa.String(length=1), nullable=False),
    sa.Column('signer_name', sa.String(length=40), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('signed_at', sa.DateTime(), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_agreement_signature_agreement_id_agreement'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_agreement_signature_recorded_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_signature'))
    )
    with op.batch_alter_table('agreement_signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_signature_agreement_id'), ['agreement_id'], unique=False)

    op.create_table('meeting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('kind_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('start_time', sa.String(length=5), nullable=False),
    sa.Column('place', sa.String(length=100), nullable=False),
    sa.Column('host', sa.String(length=40), nullable=False),
    sa.Column('recorder', sa.String(length=40), nullable=False),
    sa.Column('agenda', sa.Text(), nullable=False),
    sa.Column('guests', sa.String(length=200), nullable=False),
    sa.Column('reports', sa.Text(), nullable=False),
    sa.Column('problems', sa.Text(), nullable=False),
    sa.Column('escalation', sa.Text(), nullable=False),
    sa.Column('escalated_to_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('minutes_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_meeting_created_by_id_user')),
    sa.ForeignKeyConstraint(['escalated_to_id'], ['grid.id'], name=op.f('fk_meeting_escalated_to_id_grid')),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_meeting_grid_id_grid')),
    sa.ForeignKeyConstraint(['kind_id'], ['meeting_kind.id'], name=op.f('fk_meeting_kind_id_meeting_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting'))
    )
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_escalated_to_id'), ['escalated_to_id'], unique=False)
        batch_op.create_index('ix_meeting_grid_held', ['grid_id', 'held_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_kind_id'), ['kind_id'], unique=False)

    op.create_table('meeting_attendee',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=60), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_meeting_attendee_meeting_id_meeting'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['grid_staff.id'], name=op.f('fk_meeting_attendee_staff_id_grid_staff'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_attendee'))
    )
    with op.batch_alter_table('meeting_attendee', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_attendee_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('meeting_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_meeting_decision_meeting_id_meeting'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_decision'))
    )
    with op.batch_alter_table('meeting_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_decision_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_decision_case_id'), ['case_id'], unique=False)

    op.create_table('follow_up',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('owner_name', sa.String(length=40), nullable=False),
    sa.Column('owner_user_id', sa.Integer(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['meeting_decision.id'], name=op.f('fk_follow_up_decision_id_meeting_decision'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_follow_up_grid_id_grid')),
    sa.ForeignKeyConstraint(['owner_user_id'], ['user.id'], name=op.f('fk_follow_up_owner_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up')),
    sa.UniqueConstraint('decision_id', name=op.f('uq_follow_up_decision_id'))
    )
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_owner_user_id'), ['owner_user_id'], unique=False)

    meeting_kind = sa.table("meeting_kind", sa.column("key", sa.String), sa.column("name", sa.String),
                            sa.column("cadence_months", sa.Integer), sa.column("level_key", sa.String),
                            sa.column("attendees", sa.String))
    op.bulk_insert(meeting_kind, [dict(key=k, name=n, cadence_months=c, level_key=lv, attendees=a)
                                  for k, n, c, lv, a in DEFAULT_KINDS])


def downgrade():
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_owner_user_id'))
        batch_op.drop_index(batch_op.f('ix_follow_up_grid_id'))

    op.drop_table('follow_up')
    with op.batch_alter_table('meeting_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_decision_meeting_id'))

    op.drop_table('meeting_decision')
    with op.batch_alter_table('meeting_attendee', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_attendee_meeting_id'))

    op.drop_table('meeting_attendee')
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_kind_id'))
        batch_op.drop_index('ix_meeting_grid_held')
        batch_op.drop_index(batch_op.f('ix_meeting_escalated_to_id'))

    op.drop_table('meeting')
    with op.batch_alter_table('agreement_signature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_signature_agreement_id'))

    op.drop_table('agreement_signature')
    with op.batch_alter_table('agreement_scan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_scan_agreement_id'))

    op.drop_table('agreement_scan')
    with op.batch_alter_table('meeting_kind', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_kind_grid_id'))

    op.drop_table('meeting_kind')
    op.drop_table('grid_notice')
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_series_id'))
        batch_op.drop_index(batch_op.f('ix_agreement_grid_id'))

    op.drop_table('agreement')
