package vault

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/seal"
)

// Credential rows are authenticated (SPEC §4): an API key's verifier is an
// HMAC under a root-derived key, and a MAC under another covers what the
// row grants (an API key's role, networks, expiry and verifier; an
// operator's role and password hash; the schema document). Someone who can
// write the database but does not hold the root can neither mint a key nor
// raise a role: the row does not verify, and is refused, logged and
// audited (credential_mac_failed, an alert once alerts exist).

// reasonMAC is the audit reason and log event of a refused row.
const reasonMAC = "credential_mac_failed"

// apiKeyVerifier is what is stored of a key's secret. It is the HMAC of
// SHA-256(secret), so that rows written before verifiers existed (which
// held SHA-256(secret)) are migrated without the secret.
func apiKeyVerifier(s *seal.Sealer, secret string) []byte {
	return s.APIKeyVerifier(hashSecret(secret))
}

func apiKeyMAC(s *seal.Sealer, k *coffer.APIKey) []byte {
	return s.CredentialMAC("api_key", apiKeyMACParts(k)...)
}

func apiKeyMACParts(k *coffer.APIKey) [][]byte {
	var exp [8]byte
	if !k.ExpiresAt.IsZero() {
		binary.BigEndian.PutUint64(exp[:], uint64(k.ExpiresAt.UnixNano()))
	}
	return [][]byte{[]byte(k.ID), []byte(k.Role), []byte(strings.Join(k.AllowedCIDRs, ",")), exp[:], k.Hash}
}

func operatorMAC(s *seal.Sealer, op *coffer.Operator) []byte {
	return s.CredentialMAC("operator", []byte(op.Username), []byte(op.Role), []byte(op.PasswordHash))
}

func schemaMAC(s *seal.Sealer, doc []byte) []byte { return s.CredentialMAC("schema", doc) }

// refuseRow logs and audits a credential row that does not verify.
func (c *core) refuseRow(ctx context.Context, actor, action string, client netip.Addr, requestID string) error {
	c.log.Error(reasonMAC+": a credential row does not verify (written outside Coffer?); refused", "actor", actor, "action", action)
	e := &coffer.AuditEntry{Actor: actor, Action: action, Outcome: coffer.OutcomeDenied, Reason: reasonMAC, RequestID: requestID}
	if client.IsValid() {
		e.ClientIP = client.String()
	}
	return c.store.AppendAudit(ctx, e)
}

// checkOperator verifies op's MAC with the unsealed keys.
func (c *core) checkOperator(ctx context.Context, op *coffer.Operator, client netip.Addr, requestID string) (bool, error) {
	u := c.keys.Load()
	if u == nil {
		return false, errSealed
	}
	if u.sealer.VerifyCredentialMAC(op.MAC, "operator", []byte(op.Username), []byte(op.Role), []byte(op.PasswordHash)) {
		return true, nil
	}
	return false, c.refuseRow(ctx, "op:"+op.Username, "authenticate", client, requestID)
}

// checkCredentials runs when keys are installed. The stored schema must
// verify (else the vault stays sealed: its roles decide every access). At
// the first start with keys — no credential row carries a MAC yet — every
// existing row is given its verifier and MAC, in one audited write.
//
// Residual risk, documented: that first start trusts the rows as they are;
// and a database writer who strips every MAC (schema, keys, operators)
// makes the next start treat the store as never migrated.
func (c *core) checkCredentials(ctx context.Context, s *seal.Sealer) error {
	mac, err := c.store.SchemaMAC(ctx)
	if err != nil {
		return err
	}
	doc := c.schema.Load().doc
	if mac != nil {
		if !s.VerifyCredentialMAC(mac, "schema", doc) {
			if err := c.refuseRow(ctx, "system:unseal", "schema.verify", netip.Addr{}, ""); err != nil {
				return err
			}
			return &coffer.Error{Code: coffer.EINTERNAL, Message: "the stored schema does not verify (changed outside Coffer): refusing to unseal"}
		}
		return nil
	}
	keys, err := c.store.APIKeys(ctx)
	if err != nil {
		return err
	}
	ops, err := c.store.Operators(ctx)
	if err != nil {
		return err
	}
	m := &coffer.CredentialMACs{Operators: map[string][]byte{}, Schema: schemaMAC(s, doc)}
	for _, k := range keys {
		if k.MAC != nil {
			// Rows were migrated before: the schema's MAC was removed.
			if err := c.refuseRow(ctx, "system:unseal", "schema.verify", netip.Addr{}, ""); err != nil {
				return err
			}
			return &coffer.Error{Code: coffer.EINTERNAL, Message: "the stored schema has no MAC but other credential rows do: refusing to unseal"}
		}
		k.Hash = s.APIKeyVerifier(k.Hash) // the row held SHA-256(secret)
		m.APIKeys = append(m.APIKeys, coffer.APIKeyMAC{ID: k.ID, Hash: k.Hash, MAC: apiKeyMAC(s, k)})
	}
	for _, op := range ops {
		if op.MAC != nil {
			if err := c.refuseRow(ctx, "system:unseal", "schema.verify", netip.Addr{}, ""); err != nil {
				return err
			}
			return &coffer.Error{Code: coffer.EINTERNAL, Message: "the stored schema has no MAC but other credential rows do: refusing to unseal"}
		}
		m.Operators[op.Username] = operatorMAC(s, op)
	}
	return c.store.SetCredentialMACs(ctx, m, &coffer.AuditEntry{Actor: "system:unseal", Action: "credentials.migrate", Outcome: coffer.OutcomeAllowed})
}
