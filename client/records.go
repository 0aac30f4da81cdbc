package client

import (
	"context"
	"net/http"

	"github.com/cofferhq/coffer"
)

// Record is a record as the server returns it.
type Record = coffer.Record

// NewRecord is a record to create.
type NewRecord struct {
	Subject string         `json:"subject,omitempty"`
	Fields  map[string]any `json:"fields"`
}

// Created names a created record.
type Created struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

// Records are the calls on /v1/collections/{c}: every one names the
// purpose of the access (the Coffer-Purpose header, audited).
type Records struct{ c *Client }

// Records returns the record calls.
func (c *Client) Records() Records { return Records{c} }

// Create creates one record.
func (r Records) Create(ctx context.Context, purpose, collection string, rec NewRecord) (Created, error) {
	var out Created
	err := r.c.do(ctx, request{method: http.MethodPost, path: path("collections", collection, "records"), purpose: purpose, in: rec}, &out)
	return out, err
}

// CreateBatch creates up to 1000 records, all or nothing.
func (r Records) CreateBatch(ctx context.Context, purpose, collection string, recs []NewRecord) ([]Created, error) {
	var out struct {
		Records []Created `json:"records"`
	}
	err := r.c.do(ctx, request{method: http.MethodPost, path: path("collections", collection, "records", "batch"), purpose: purpose,
		in: map[string]any{"records": recs}}, &out)
	return out.Records, err
}

// Get reads one record: the fields in the caller's views, the others listed
// as withheld.
func (r Records) Get(ctx context.Context, purpose, collection, id string) (*Record, error) {
	var out Record
	if err := r.c.do(ctx, request{method: http.MethodGet, path: path("collections", collection, "records", id), purpose: purpose}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Update changes fields (a nil value removes the field) and returns the
// record.
func (r Records) Update(ctx context.Context, purpose, collection, id string, fields map[string]any) (*Record, error) {
	var out Record
	if err := r.c.do(ctx, request{method: http.MethodPatch, path: path("collections", collection, "records", id), purpose: purpose,
		in: map[string]any{"fields": fields}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a record.
func (r Records) Delete(ctx context.Context, purpose, collection, id string) error {
	return r.c.do(ctx, request{method: http.MethodDelete, path: path("collections", collection, "records", id), purpose: purpose}, nil)
}

// Search finds records by exact values of searchable fields (at most limit;
// 0 is the server's default).
func (r Records) Search(ctx context.Context, purpose, collection string, where map[string]any, limit int) ([]*Record, error) {
	var out struct {
		Records []*Record `json:"records"`
	}
	err := r.c.do(ctx, request{method: http.MethodPost, path: path("collections", collection, "search"), purpose: purpose,
		in: map[string]any{"where": where, "limit": limit}}, &out)
	return out.Records, err
}
