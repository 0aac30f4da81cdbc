// Package schema parses Coffer's schema document (SPEC §2) and validates
// and normalizes field values by their declared type.
//
// Parse is strict: unknown keys, undeclared purposes or fields, unknown
// types, views or masks are errors naming the file, the line and the path.
// Declarations of card security codes, track data or PINs are refused (PCI
// DSS 4.0.1 req. 3.3.1: sensitive authentication data is never stored after
// authorization).
//
// Normalize never echoes a value in an error: messages name the field and
// the expected form only, because error messages reach API callers and
// logs, where personal data must never go.
package schema
