package api

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// The handlers depend on the vault's use cases through these small
// interfaces (*vault.Records, *vault.Tokens, …).
type (
	recordService interface {
		Create(ctx context.Context, c *vault.Call, collection string, recs []coffer.NewRecord) ([]vault.Created, error)
		Get(ctx context.Context, c *vault.Call, collection, id string) (*coffer.Record, error)
		Update(ctx context.Context, c *vault.Call, collection, id string, fields map[string]json.RawMessage) (*coffer.Record, error)
		Delete(ctx context.Context, c *vault.Call, collection, id string) error
		Search(ctx context.Context, c *vault.Call, collection string, where map[string]json.RawMessage, limit int) ([]*coffer.Record, error)
		Subject(ctx context.Context, c *vault.Call, id string) (*vault.SubjectView, error)
	}
	tokenService interface {
		TokenizeVersion(ctx context.Context, c *vault.Call, req vault.TokenizeRequest) ([]string, uint32, error)
		Detokenize(ctx context.Context, c *vault.Call, ids []string) ([]string, error)
		Revoke(ctx context.Context, c *vault.Call, id string) error
		FPE(ctx context.Context, c *vault.Call, req vault.FPERequest, decrypt bool) (*vault.FPEResult, error)
	}
	privacyService interface {
		SetConsent(ctx context.Context, c *vault.Call, subject, purpose string, ch vault.ConsentChange) error
		Consents(ctx context.Context, c *vault.Call, subject string) (*vault.SubjectConsents, error)
		SetRestriction(ctx context.Context, c *vault.Call, subject string, restricted bool) error
		CreateRequest(ctx context.Context, c *vault.Call, nr vault.NewRequest) (*coffer.Request, error)
		Request(ctx context.Context, c *vault.Call, id string) (*coffer.Request, error)
		Requests(ctx context.Context, c *vault.Call, status string, overdue bool) ([]*coffer.Request, error)
		ActOnRequest(ctx context.Context, c *vault.Call, id string, a vault.RequestAction) (*coffer.Request, error)
		ExportRequest(ctx context.Context, c *vault.Call, id string) (*vault.Export, error)
		SweepAs(ctx context.Context, c *vault.Call, dryRun bool) (*vault.SweepReport, error)
	}
	identityService interface {
		Authenticate(ctx context.Context, token string, client netip.Addr) (*coffer.Actor, error)
		RefuseAuthentication(ctx context.Context, client netip.Addr, requestID, reason string) error
		CreateAPIKey(ctx context.Context, c *vault.Call, nk vault.NewAPIKey) (id, token string, err error)
		RevokeAPIKey(ctx context.Context, c *vault.Call, id string) error
		APIKeys(ctx context.Context, c *vault.Call) ([]*coffer.APIKey, error)
		CreateOperator(ctx context.Context, c *vault.Call, username, role string) (*vault.Enrollment, error)
		Enroll(ctx context.Context, token, password string, client netip.Addr, requestID string) (string, error)
		ConfirmEnrollment(ctx context.Context, token, code string, client netip.Addr, requestID string) error
		Operators(ctx context.Context, c *vault.Call) ([]*coffer.Operator, error)
		SetOperatorLock(ctx context.Context, c *vault.Call, username string, locked bool) error
		AcknowledgePolicy(ctx context.Context, c *vault.Call, username, version string) error
		RecordTraining(ctx context.Context, c *vault.Call, username string, at time.Time) error
		Policy() vault.SecurityPolicy
		Login(ctx context.Context, username, password, code string, client netip.Addr, requestID string) (string, time.Time, error)
		Logout(ctx context.Context, c *vault.Call) error
		BeginWebAuthnRegistration(ctx context.Context, c *vault.Call) ([]byte, error)
		FinishWebAuthnRegistration(ctx context.Context, c *vault.Call, response []byte) error
		BeginWebAuthnLogin(ctx context.Context, username, password string, client netip.Addr, requestID string) ([]byte, error)
		FinishWebAuthnLogin(ctx context.Context, username string, response []byte, client netip.Addr, requestID string) (string, time.Time, error)
	}
	adminService interface {
		SchemaDocument(ctx context.Context, c *vault.Call) ([]byte, error)
		PutSchema(ctx context.Context, c *vault.Call, doc []byte, purge bool) (*coffer.Schema, error)
		Audit(ctx context.Context, c *vault.Call, f coffer.AuditFilter) ([]*coffer.AuditEntry, error)
		VerifyAudit(ctx context.Context, c *vault.Call, pubs map[uint32]ed25519.PublicKey) (int64, error)
		AuthorizeMetrics(ctx context.Context, c *vault.Call) error
		KeyStatus(ctx context.Context, c *vault.Call, wait bool) (*vault.KeyStatus, error)
		RotateKeys(ctx context.Context, c *vault.Call) (uint32, error)
		RotateDerived(ctx context.Context, c *vault.Call, reindexOnly bool) (uint32, error)
		RotateNamedKey(ctx context.Context, c *vault.Call, kind coffer.NamedKeyKind, name string) (uint32, error)
		Rewrap(ctx context.Context, c *vault.Call) (uint32, error)
		RetireKey(ctx context.Context, c *vault.Call, version uint32, force bool) error
		ExportKey(ctx context.Context, c *vault.Call, version uint32, recipient string) ([]byte, error)
	}
)
