package schema

import (
	"go.yaml.in/yaml/v3"

	"github.com/cofferhq/coffer"
)

// Roles: which actions on which fields, in which view, for which purposes (SPEC §2).

func (p *parser) roles(s *coffer.Schema, n *yaml.Node) error {
	kvs, err := p.pairs(n, "roles")
	if err != nil {
		return err
	}
	if len(kvs) > MaxRoles {
		return p.errf(n, "roles", "at most %d roles", MaxRoles)
	}
	for _, kv := range kvs {
		name, path := kv[0].Value, join("roles", kv[0].Value)
		if !nameRE.MatchString(name) {
			return p.errf(kv[0], path, "role names are lower-case letters, digits and _")
		}
		r := &coffer.Role{Name: name, Collections: map[string]*coffer.Grant{}}
		parts, err := p.pairs(kv[1], path, "purposes", "collections", "admin", "metrics", "tokens", "consents")
		if err != nil {
			return err
		}
		for _, part := range parts {
			k, v, kp := part[0].Value, part[1], join(path, part[0].Value)
			switch k {
			case "admin":
				if r.Admin, err = p.boolean(v, kp); err != nil {
					return err
				}
			case "consents":
				if r.Consents, err = p.boolean(v, kp); err != nil {
					return err
				}
			case "metrics":
				if r.Metrics, err = p.boolean(v, kp); err != nil {
					return err
				}
			case "tokens":
				tkvs, err := p.pairs(v, kp, "tokenize", "detokenize")
				if err != nil {
					return err
				}
				for _, tkv := range tkvs {
					tp := join(kp, tkv[0].Value)
					items, err := p.list(tkv[1], tp)
					if err != nil {
						return err
					}
					var names []string
					for _, it := range items {
						ns, err := p.str(it, tp)
						if err != nil {
							return err
						}
						if ns != "*" && !NamespaceRE.MatchString(ns) {
							return p.errf(it, tp, "a token namespace is lower-case letters, digits, _ and - (at most 63), or \"*\"")
						}
						names = append(names, ns)
					}
					if tkv[0].Value == "tokenize" {
						r.Tokenize = names
					} else {
						r.Detokenize = names
					}
				}
			case "purposes":
				if v.Kind == yaml.ScalarNode && v.Value == "*" {
					r.AllPurposes = true
					continue
				}
				items, err := p.list(v, kp)
				if err != nil {
					return p.errf(v, kp, `"*" or a list of purposes`)
				}
				for _, it := range items {
					pv, err := p.str(it, kp)
					if err != nil {
						return err
					}
					if s.Purposes[pv] == nil {
						return p.errf(it, kp, "purpose %q is not declared under purposes", pv)
					}
					r.Purposes = append(r.Purposes, pv)
				}
			case "collections":
				ckvs, err := p.pairs(v, kp)
				if err != nil {
					return err
				}
				for _, ckv := range ckvs {
					g, err := p.grant(s, ckv[0], ckv[1], join(kp, ckv[0].Value))
					if err != nil {
						return err
					}
					r.Collections[ckv[0].Value] = g
				}
			}
		}
		s.Roles[name] = r
	}
	return nil
}

func (p *parser) grant(s *coffer.Schema, key, n *yaml.Node, path string) (*coffer.Grant, error) {
	cname := key.Value
	var coll *coffer.Collection
	if cname != "*" {
		if coll = s.Collections[cname]; coll == nil {
			return nil, p.errf(key, path, "collection %q is not declared under collections", cname)
		}
	}
	checkField := func(node *yaml.Node, fp, f string) error {
		if f == "*" {
			return nil
		}
		if coll == nil {
			return p.errf(node, fp, `a grant on every collection ("*") may only name fields as "*"`)
		}
		if coll.Fields[f] == nil {
			return p.errf(node, fp, "field %q is not declared in collection %s", f, cname)
		}
		return nil
	}
	kvs, err := p.pairs(n, path, "read", "write", "search", "delete", "detokenize")
	if err != nil {
		return nil, err
	}
	g := &coffer.Grant{}
	for _, kv := range kvs {
		k, v, kp := kv[0].Value, kv[1], join(path, kv[0].Value)
		switch k {
		case "delete":
			if g.Delete, err = p.boolean(v, kp); err != nil {
				return nil, err
			}
		case "read":
			rkvs, err := p.pairs(v, kp)
			if err != nil {
				return nil, err
			}
			g.Read = map[string]coffer.View{}
			for _, r := range rkvs {
				if err := checkField(r[0], kp, r[0].Value); err != nil {
					return nil, err
				}
				vs, err := p.str(r[1], join(kp, r[0].Value))
				if err != nil {
					return nil, err
				}
				if !views[coffer.View(vs)] {
					return nil, p.errf(r[1], join(kp, r[0].Value), "unknown view %q (plain, masked, token, none)", vs)
				}
				g.Read[r[0].Value] = coffer.View(vs)
			}
		case "write", "search", "detokenize":
			items, err := p.list(v, kp)
			if err != nil {
				return nil, err
			}
			var names []string
			for _, it := range items {
				fv, err := p.str(it, kp)
				if err != nil {
					return nil, err
				}
				if err := checkField(it, kp, fv); err != nil {
					return nil, err
				}
				if k == "search" && coll != nil && !coll.Fields[fv].Searchable {
					return nil, p.errf(it, kp, "field %q is not searchable (declare searchable: true)", fv)
				}
				names = append(names, fv)
			}
			switch k {
			case "write":
				g.Write = names
			case "search":
				g.Search = names
			case "detokenize":
				g.Detokenize = names
			}
		}
	}
	return g, nil
}
