-- The detail keys the airlock finds its rows by (window, purpose, object; chain.KeysOf), one
-- row per audit row that has any, written with the row by the one writer. The store fills it
-- for rows already present right after this migration, in Go (detail is text and may not
-- parse, so no SQL cast can be trusted with it).
CREATE TABLE audit_detail_keys (
    seq     bigint PRIMARY KEY,
    op      text,
    win     bigint,
    purpose text,
    object  text
);

CREATE INDEX ix_adk_op_win ON audit_detail_keys (op, win, seq);
CREATE INDEX ix_adk_op_object ON audit_detail_keys (op, object, purpose, seq);
CREATE INDEX ix_adk_op_purpose ON audit_detail_keys (op, purpose, seq);
