package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/sqlite"
)

func sqlExec(t *testing.T, data string, f func(db *sql.DB)) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "coffer.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f(db)
}

// TestLiveTamperStopsServer: with the server running, the log's tail is
// deleted (or an entry edited and the chain re-hashed): the next request
// answers 503 unavailable, audit_tamper is logged once, nothing is
// re-signed, and audit verify exits 1 naming where the log diverges.
func TestLiveTamperStopsServer(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, db *sql.DB)
		wantSeq string
	}{
		{"truncate the tail", func(t *testing.T, db *sql.DB) {
			if _, err := db.Exec(`DELETE FROM audit WHERE seq > (SELECT max(seq) - 2 FROM audit)`); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"edit and re-hash", func(t *testing.T, db *sql.DB) {
			rows, err := db.Query(`SELECT seq, time, actor, action, collection, record, subject, fields, purpose, outcome, reason, client_ip, request_id, prev_hash, views FROM audit ORDER BY seq`)
			if err != nil {
				t.Fatal(err)
			}
			var es []*coffer.AuditEntry
			for rows.Next() {
				e := &coffer.AuditEntry{}
				var tm int64
				var fields, views string
				if err := rows.Scan(&e.Seq, &tm, &e.Actor, &e.Action, &e.Collection, &e.Record, &e.Subject, &fields, &e.Purpose, &e.Outcome, &e.Reason, &e.ClientIP, &e.RequestID, &e.PrevHash, &views); err != nil {
					t.Fatal(err)
				}
				e.Time = timeFromNanos(tm)
				if fields != "" {
					e.Fields = strings.Split(fields, ",")
				}
				if views != "" {
					for _, v := range strings.Split(views, ",") {
						e.Views = append(e.Views, coffer.View(v))
					}
				}
				es = append(es, e)
			}
			rows.Close()
			var prev []byte
			for _, e := range es {
				if e.Seq == 3 {
					e.Actor = "key_someone_else"
				}
				e.PrevHash = prev
				e.Hash = audit.Hash(e)
				prev = e.Hash
				if _, err := db.Exec(`UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Actor, e.PrevHash, e.Hash, e.Seq); err != nil {
					t.Fatal(err)
				}
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			addr, token, logs, stop := devServer(t, data)
			c := &apiClient{t: t, addr: addr, token: token}
			for i := range 4 {
				if st, _, raw := c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": fmt.Sprintf("t%d@tamper.example", i)}}); st != 201 {
					t.Fatal(raw)
				}
			}
			sqlExec(t, data, func(db *sql.DB) { tt.tamper(t, db) })
			for range 2 {
				st, m, raw := c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": "after@tamper.example"}})
				c.expectError(503, coffer.EUNAVAILABLE, st, m, raw)
			}
			st, m, raw := c.call("GET", "/v1/audit", "", nil) // an audited read
			c.expectError(503, coffer.EUNAVAILABLE, st, m, raw)
			stop()
			if n := strings.Count(logs.String(), "audit_tamper"); n != 1 {
				t.Errorf("audit_tamper logged %d times, want once:\n%s", n, logs.String())
			}
			code, out, errs := run(t, nil, "", "audit", "verify", "--data", data)
			if code != 1 || !strings.Contains(out, "FAIL: audit log broken at seq") {
				t.Fatalf("audit verify: exit %d: %s %s; want 1", code, out, errs)
			}
		})
	}
}

// TestReplayedHeadCaughtByWitness: with the server stopped, the log is cut
// back to an old signed head, the checkpoints past it deleted: audit
// verify passes without the witness and fails with it.
func TestReplayedHeadCaughtByWitness(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	if err := keyring.CreateFile(filepath.Join(data, "keys.json")); err != nil {
		t.Fatal(err)
	}
	keys, err := (&keyring.File{Path: filepath.Join(data, "keys.json")}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(keys.IndexKey)
	if err != nil {
		t.Fatal(err)
	}
	witness := data + ".witness"
	s, err := sqlite.Open(ctx, filepath.Join(data, "coffer.db"), sqlite.Options{Signer: signer, Witness: &audit.WitnessFile{Path: witness}, CheckpointEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int) {
		for range n {
			if err := s.AppendAudit(ctx, &coffer.AuditEntry{Actor: "key_a", Action: "read", Outcome: coffer.OutcomeAllowed}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(4)
	old, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	add(4)
	s.Close()
	if code, out, errs := run(t, nil, "", "audit", "verify", "--data", data, "--witness", witness); code != 0 {
		t.Fatalf("untouched: exit %d %s %s", code, out, errs)
	}
	sqlExec(t, data, func(db *sql.DB) {
		for _, q := range []string{`DELETE FROM audit WHERE seq > ?`, `DELETE FROM audit_checkpoints WHERE seq > ?`} {
			if _, err := db.Exec(q, old.Seq); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec(`UPDATE audit_head SET seq = ?, hash = ?, signature = ?`, old.Seq, old.Hash, old.Signature); err != nil {
			t.Fatal(err)
		}
	})
	if code, out, errs := run(t, nil, "", "audit", "verify", "--data", data); code != 0 {
		t.Fatalf("precondition: without the witness the replayed log passes: exit %d %s %s", code, out, errs)
	}
	code, out, errs := run(t, nil, "", "audit", "verify", "--data", data, "--witness", witness)
	if want := fmt.Sprintf("broken at seq %d:", old.Seq+1); code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "witness saw seq 8") {
		t.Fatalf("with the witness: exit %d %s %s; want 1 and %q", code, out, errs, want)
	}
}

func timeFromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
