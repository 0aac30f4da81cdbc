package sqlstore

import (
	"database/sql"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestExpiredQueryUsesTheCursor: a page of expired records is found from
// the cursor on, not by scanning the collection from its start. SQLite
// plans a prepared statement without the parameters' values, so the plan
// must show a lower bound on updated_at.
func TestExpiredQueryUsesTheCursor(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE records (id TEXT PRIMARY KEY, collection TEXT NOT NULL, subject TEXT NOT NULL, fields BLOB NOT NULL,
			idx BLOB NOT NULL, idx_version INTEGER NOT NULL DEFAULT 1, version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID`,
		`CREATE INDEX records_expiry ON records (collection, updated_at)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+expiredQuery, "customers", int64(1<<62), int64(5), int64(5), "rec_x", 20)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "updated_at>?") {
		t.Fatalf("the expired-records page is found without the cursor's lower bound: %s", p)
	}
}
