// Package client is a Go client for Coffer's HTTP API. The coffer CLI's
// client verbs and its benchmark use it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// Client calls one Coffer server.
type Client struct {
	Addr  string // base URL, e.g. http://127.0.0.1:8750
	Token string // API key
	HTTP  *http.Client
	// Header is added to every request (e.g. Sec-GPC: 1).
	Header http.Header
}

// New returns a client for addr with token.
func New(addr, token string) *Client {
	return &Client{Addr: strings.TrimRight(addr, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is an error answered by the server.
type Error struct {
	Status    int
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d): %s [request %s]", e.Code, e.Status, e.Message, e.RequestID)
}

// Do sends a JSON request and decodes a JSON answer into out (when not nil).
// purpose fills the Coffer-Purpose header when not empty.
func (c *Client) Do(ctx context.Context, method, path, purpose string, in, out any) error {
	resp, err := c.send(ctx, method, path, purpose, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Download makes a GET and copies a successful answer's body to w (a
// file export); a refusal is an *Error like Do's.
func (c *Client) Download(ctx context.Context, path, purpose string, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, path, purpose, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// send makes a request; an answer of 300 or more is read and returned as
// an *Error (the body closed), anything else is the caller's to read.
func (c *Client) send(ctx context.Context, method, path, purpose string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Addr+path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if purpose != "" {
		req.Header.Set("Coffer-Purpose", purpose)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var eb struct {
		Error Error `json:"error"`
	}
	if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
		return nil, &Error{Status: resp.StatusCode, Code: "http", Message: http.StatusText(resp.StatusCode)}
	}
	eb.Error.Status = resp.StatusCode
	return nil, &eb.Error
}

// Created names a created record.
type Created struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

// Record is a record as the server returns it.
type Record = coffer.Record

// NewRecord is a record to create.
type NewRecord struct {
	Subject string         `json:"subject,omitempty"`
	Fields  map[string]any `json:"fields"`
}

func collPath(collection string) string { return "/v1/collections/" + url.PathEscape(collection) }

// CreateRecord creates one record.
func (c *Client) CreateRecord(ctx context.Context, purpose, collection string, r NewRecord) (Created, error) {
	var out Created
	err := c.Do(ctx, http.MethodPost, collPath(collection)+"/records", purpose, r, &out)
	return out, err
}

// CreateRecords creates up to 1000 records, all or nothing.
func (c *Client) CreateRecords(ctx context.Context, purpose, collection string, rs []NewRecord) ([]Created, error) {
	var out struct {
		Records []Created `json:"records"`
	}
	err := c.Do(ctx, http.MethodPost, collPath(collection)+"/records/batch", purpose, map[string]any{"records": rs}, &out)
	return out.Records, err
}

// GetRecord reads one record.
func (c *Client) GetRecord(ctx context.Context, purpose, collection, id string) (*Record, error) {
	var out Record
	err := c.Do(ctx, http.MethodGet, collPath(collection)+"/records/"+url.PathEscape(id), purpose, nil, &out)
	return &out, err
}

// Search finds records by exact values of searchable fields.
func (c *Client) Search(ctx context.Context, purpose, collection string, where map[string]any, limit int) ([]*Record, error) {
	var out struct {
		Records []*Record `json:"records"`
	}
	err := c.Do(ctx, http.MethodPost, collPath(collection)+"/search", purpose, map[string]any{"where": where, "limit": limit}, &out)
	return out.Records, err
}
