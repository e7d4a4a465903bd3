-- audit.md U-1: the twelve 0.1.5 columns, nullable as 0.1.5 declared them (so an imported
-- 0.1.5 log keeps NULL apart from ''), plus the Go-only columns. detail is text, never jsonb:
-- the hash covers the parsed stored text (U-9), and jsonb would re-encode it.
CREATE TABLE audit_events (
    seq         bigint PRIMARY KEY,
    ts          text,
    actor       text,
    op          text,
    target_ref  text,
    target_path text,
    op_id       text,
    result_oid  text,
    outcome     text,
    detail      text,
    prev_hash   text,
    hash        text,
    intent_id   text,
    stream_seq  bigint,
    intent_at   text
);

CREATE INDEX ix_ae_op_actor_seq ON audit_events (op, actor, seq);
CREATE INDEX ix_ae_op_actor_path ON audit_events (op, actor, target_path);
-- U-5: one row per intent. NULLs (imported 0.1.5 rows) are distinct.
CREATE UNIQUE INDEX ix_ae_intent_id ON audit_events (intent_id);
