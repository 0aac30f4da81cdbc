package client

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// NewOperator is an operator to create.
type NewOperator struct {
	Username string `json:"username"`
	Role     string `json:"role"`
}

// CreatedOperator carries the single-use enrollment link (72 hours) the
// admin passes on to the new operator, who sets the password and scans
// the TOTP seed there (Auth.Enroll, Auth.ConfirmEnrollment).
type CreatedOperator struct {
	Username      string    `json:"username"`
	EnrollmentURL string    `json:"enrollment_url"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// EnrollmentToken is the token of an enrollment link (after "#token=").
func EnrollmentToken(enrollmentURL string) string {
	_, tok, _ := strings.Cut(enrollmentURL, "#token=")
	return tok
}

// Operator is an operator as listed.
type Operator struct {
	Username      string     `json:"username"`
	Role          string     `json:"role"`
	MFAEnrolled   bool       `json:"mfa_enrolled"`
	Locked        bool       `json:"locked"`
	LockedUntil   *time.Time `json:"locked_until,omitempty"`
	PolicyVersion string     `json:"policy_version"`
	TrainedAt     *time.Time `json:"trained_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

// SecurityPolicy is the current security policy.
type SecurityPolicy struct {
	Version string `json:"version"`
	Text    string `json:"text"`
}

// Operators are the operator calls (/v1/operators, /v1/security-policy).
type Operators struct{ c *Client }

// Operators returns the operator calls.
func (c *Client) Operators() Operators { return Operators{c} }

// Create creates an operator (admin).
func (o Operators) Create(ctx context.Context, op NewOperator) (*CreatedOperator, error) {
	var out CreatedOperator
	if err := o.c.do(ctx, request{method: http.MethodPost, path: path("operators"), in: op}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List lists operators (admin).
func (o Operators) List(ctx context.Context) ([]*Operator, error) {
	var out struct {
		Operators []*Operator `json:"operators"`
	}
	err := o.c.do(ctx, request{method: http.MethodGet, path: path("operators")}, &out)
	return out.Operators, err
}

// Lock locks an operator and ends its sessions (admin).
func (o Operators) Lock(ctx context.Context, username string) error {
	return o.c.do(ctx, request{method: http.MethodPost, path: path("operators", username, "lock")}, nil)
}

// Unlock unlocks an operator (admin).
func (o Operators) Unlock(ctx context.Context, username string) error {
	return o.c.do(ctx, request{method: http.MethodPost, path: path("operators", username, "unlock")}, nil)
}

// Training records that an operator completed security training at
// completedAt (the zero time: now).
func (o Operators) Training(ctx context.Context, username string, completedAt time.Time) error {
	body := map[string]string{}
	if !completedAt.IsZero() {
		body["completed_at"] = completedAt.Format(time.RFC3339)
	}
	return o.c.do(ctx, request{method: http.MethodPost, path: path("operators", username, "training"), in: body}, nil)
}

// AcknowledgePolicy acknowledges the security policy version (the operator
// itself).
func (o Operators) AcknowledgePolicy(ctx context.Context, username, version string) error {
	return o.c.do(ctx, request{method: http.MethodPost, path: path("operators", username, "acknowledge-policy"),
		in: map[string]string{"version": version}}, nil)
}

// Policy returns the current security policy.
func (o Operators) Policy(ctx context.Context) (*SecurityPolicy, error) {
	var out SecurityPolicy
	if err := o.c.do(ctx, request{method: http.MethodGet, path: path("security-policy")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
