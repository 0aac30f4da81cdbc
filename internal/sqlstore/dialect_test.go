package sqlstore

import "testing"

func TestDialect(t *testing.T) {
	q := `UPDATE t SET a = ?, b = ? WHERE id = ? AND v IN (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	if got := (Dialect{}).SQL(q); got != q {
		t.Errorf("SQLite rewrote the statement: %s", got)
	}
	want := `UPDATE t SET a = $1, b = $2 WHERE id = $3 AND v IN ($4, $5, $6, $7, $8, $9, $10, $11, $12)`
	if got := Postgres.SQL(q); got != want {
		t.Errorf("Postgres.SQL = %s\nwant %s", got, want)
	}
}

// TestRowLocks: PostgreSQL renders a row-lock comment as its clause;
// SQLite (one writer) runs the statement as written, the lock a comment.
func TestRowLocks(t *testing.T) {
	q := `SELECT id FROM subjects WHERE id = ?` + lockKeyShare
	if got := (Dialect{}).SQL(q); got != q {
		t.Errorf("SQLite rewrote the statement: %s", got)
	}
	if got, want := Postgres.SQL(q), `SELECT id FROM subjects WHERE id = $1 FOR KEY SHARE`; got != want {
		t.Errorf("Postgres.SQL = %s, want %s", got, want)
	}
	if got, want := Postgres.SQL(`SELECT consents FROM subjects WHERE id = ?`+lockUpdate), `SELECT consents FROM subjects WHERE id = $1 FOR UPDATE`; got != want {
		t.Errorf("Postgres.SQL = %s, want %s", got, want)
	}
}
