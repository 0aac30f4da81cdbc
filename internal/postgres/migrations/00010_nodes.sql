-- Nodes that share this schema drop an erased subject's cached key before
-- their next answer: the erasure's transaction notifies every listening
-- node when it commits (a notification is delivered only if and when the
-- transaction commits). The payload is "<schema>/<subject id>": channels
-- are per database, and several Coffer schemas may share one.
-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION coffer_subject_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('coffer_subjects', TG_TABLE_SCHEMA || '/' || OLD.id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER subjects_gone AFTER DELETE ON subjects
    FOR EACH ROW EXECUTE FUNCTION coffer_subject_gone();

-- +goose Down
DROP TRIGGER subjects_gone ON subjects;
DROP FUNCTION coffer_subject_gone();
