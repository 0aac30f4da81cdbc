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
