package scan

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/cofferhq/coffer/internal/pii"
)

// column is a text column of a table.
type column struct {
	name string
	hint pii.Hint
}

// columnCounter aggregates the findings of one table.
type columnCounter struct {
	r         *run
	db, table string
	cols      []column
	found     map[findingKey]*Finding
	minConf   float64
}

func (r *run) newCounter(db, table string, cols []column) *columnCounter {
	return &columnCounter{r: r, db: db, table: table, cols: cols, found: map[findingKey]*Finding{}, minConf: r.s.o.MinConfidence}
}

func (c *columnCounter) value(col int, v []byte) {
	c.r.bytes.Add(int64(len(v)))
	c.r.s.det.Scan(v, c.cols[col].hint, func(m pii.Match) {
		if m.Confidence < c.minConf {
			return
		}
		loc := Location{Database: c.db, Table: c.table, Column: c.cols[col].name}
		k := findingKey{loc, m.Entity}
		if f, ok := c.found[k]; ok {
			f.Count++
			f.Confidence = max(f.Confidence, m.Confidence)
			return
		}
		c.found[k] = &Finding{Entity: m.Entity, Location: loc, Confidence: m.Confidence, Count: 1, Sample: pii.Mask(v[m.Start:m.End])}
	})
}

func (c *columnCounter) flush() {
	for _, f := range c.found {
		c.r.col.add(*f)
	}
}

// sqlite reads every text column of every table of a SQLite file, read-only.
func (r *run) sqlite(name string) error {
	abs, err := filepath.Abs(name)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?mode=ro")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer db.Close()
	r.files++
	tables, err := stringColumn(r.ctx, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, t := range tables {
		if err := r.sqliteTable(db, name, t); err != nil {
			return fmt.Errorf("%s: table %s: %w", name, t, err)
		}
	}
	return nil
}

func stringColumn(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// textAffinity follows SQLite's rules for a declared type: TEXT affinity,
// or none (a column declared without a type holds anything).
func textAffinity(decl string) bool {
	d := strings.ToUpper(decl)
	if strings.Contains(d, "INT") {
		return false
	}
	return d == "" || strings.Contains(d, "CHAR") || strings.Contains(d, "CLOB") || strings.Contains(d, "TEXT") ||
		strings.Contains(d, "JSON") || strings.Contains(d, "BLOB")
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (r *run) sqliteTable(db *sql.DB, dbName, table string) error {
	rows, err := db.QueryContext(r.ctx, `SELECT name, type FROM pragma_table_info(?)`, table)
	if err != nil {
		return err
	}
	var cols []column
	for rows.Next() {
		var n, typ string
		if err := rows.Scan(&n, &typ); err != nil {
			rows.Close()
			return err
		}
		if textAffinity(typ) {
			cols = append(cols, column{n, pii.ParseHint(n)})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(cols) == 0 {
		return nil
	}
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = quoteIdent(c.name)
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(table)
	return r.readRows(db, q, r.newCounter(dbName, table, cols))
}

func (r *run) readRows(db *sql.DB, q string, c *columnCounter) error {
	rows, err := db.QueryContext(r.ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]sql.RawBytes, len(c.cols))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		r.rows.Add(1)
		for i, v := range vals {
			if len(v) > 0 {
				c.value(i, v)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.flush()
	return nil
}

// postgresLabel names a database without its credentials.
func postgresLabel(cfg *pgx.ConnConfig) string {
	return "postgres://" + cfg.Host + ":" + strconv.Itoa(int(cfg.Port)) + "/" + cfg.Database
}

// postgres reads the text columns of every table a DSN's user can see: a
// sample of rows per table (TABLESAMPLE on large tables), or all with Full.
func (r *run) postgres(dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("invalid PostgreSQL DSN (%v)", redactErr(err))
	}
	label := postgresLabel(cfg)
	conn, err := pgx.ConnectConfig(r.ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	defer conn.Close(context.WithoutCancel(r.ctx))
	rows, err := conn.Query(r.ctx, `
		SELECT c.table_schema, c.table_name, c.column_name, COALESCE(cl.reltuples, -1)::float8
		FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		LEFT JOIN pg_catalog.pg_namespace ns ON ns.nspname = c.table_schema
		LEFT JOIN pg_catalog.pg_class cl ON cl.relnamespace = ns.oid AND cl.relname = c.table_name
		WHERE t.table_type = 'BASE TABLE'
		  AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
		  AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'USER-DEFINED')
		ORDER BY c.table_schema, c.table_name, c.ordinal_position`)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	type table struct {
		schema, name string
		tuples       float64
		cols         []column
	}
	var tables []*table
	for rows.Next() {
		var schema, name, col string
		var tuples float64
		if err := rows.Scan(&schema, &name, &col, &tuples); err != nil {
			rows.Close()
			return fmt.Errorf("%s: %w", label, err)
		}
		if n := len(tables); n == 0 || tables[n-1].schema != schema || tables[n-1].name != name {
			tables = append(tables, &table{schema: schema, name: name, tuples: tuples})
		}
		t := tables[len(tables)-1]
		t.cols = append(t.cols, column{col, pii.ParseHint(col)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	r.files++
	for _, t := range tables {
		sel := make([]string, len(t.cols))
		for i, c := range t.cols {
			sel[i] = pgx.Identifier{c.name}.Sanitize() + "::text"
		}
		q := "SELECT " + strings.Join(sel, ", ") + " FROM " + pgx.Identifier{t.schema, t.name}.Sanitize()
		if !r.s.o.Full {
			n := r.s.o.SampleRows
			if t.tuples > float64(4*n) {
				// Four times the rows asked for, so the LIMIT is nearly always
				// reached: by row (BERNOULLI) on small tables, where a few
				// pages would vary too much, by page (SYSTEM) on big ones.
				pct := min(100, 100*4*float64(n)/t.tuples)
				method := "BERNOULLI"
				if t.tuples > 1e6 {
					method = "SYSTEM"
				}
				q += fmt.Sprintf(" TABLESAMPLE %s (%.4f)", method, pct)
			}
			q += " LIMIT " + strconv.Itoa(n)
		}
		tableName := t.schema + "." + t.name
		c := r.newCounter(label, tableName, t.cols)
		if err := r.pgRows(conn, q, c); err != nil {
			// A live database changes while it is scanned: a table (or its
			// schema) dropped after the listing is no longer there to hold
			// personal data. Anything else stops the scan.
			var pe *pgconn.PgError
			if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") {
				continue
			}
			return fmt.Errorf("%s: table %s: %w", label, tableName, err)
		}
	}
	return nil
}

func (r *run) pgRows(conn *pgx.Conn, q string, c *columnCounter) error {
	rows, err := conn.Query(r.ctx, q, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r.rows.Add(1)
		for i, v := range rows.RawValues() {
			if len(v) > 0 {
				c.value(i, v)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.flush()
	return nil
}

// redactErr keeps a DSN parse error from echoing a password.
func redactErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		return "cannot parse the connection string"
	}
	return msg
}
