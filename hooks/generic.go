package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// Mapping maps a generic JSON webhook to a signal. Paths are dotted
// (keys, and decimal indexes into arrays); a value starting with "=" is a
// constant ("=opened", "=3").
type Mapping struct {
	// Kind is the signal kind, or the path of a field holding it.
	Kind string `yaml:"kind"`
	// ID is the path of the event id (required): it dedups retries.
	ID string `yaml:"id"`
	// Customer is the path of the customer id (required).
	Customer string `yaml:"customer"`
	// Time is the path of the event time, RFC 3339 or Unix seconds; the
	// time of receipt when empty or absent.
	Time string `yaml:"time"`
	// Data maps each field of the signal's data to a path or a constant.
	Data map[string]string `yaml:"data"`
	// Match lists paths and the values they must have; a request that
	// does not match is ignored (acknowledged, not scored).
	Match map[string]string `yaml:"match"`
	// CEL, instead of the fields above, is an expression over body (the
	// JSON document) and headers (lower-case names) that yields a map
	// with kind, id, customer, time (optional) and data, or an empty map
	// ({}) to ignore the request.
	CEL string `yaml:"cel"`
}

// maxMapped bounds data and match entries.
const maxMapped = 32

func (m Mapping) check() error {
	if m.CEL != "" {
		if m.Kind != "" || m.ID != "" || m.Customer != "" || m.Time != "" || len(m.Data) > 0 || len(m.Match) > 0 {
			return errBothMappings
		}
		_, err := compileCEL(m.CEL)
		return err
	}
	var errs []error
	if m.Kind == "" {
		errs = append(errs, errors.New("kind: required (a kind, or the path of a field holding one)"))
	} else if !signals.Kind(m.Kind).Valid() {
		if err := checkPath(m.Kind); err != nil {
			errs = append(errs, fmt.Errorf("kind: %w", err))
		}
	}
	for _, f := range []struct{ name, v string }{{"id", m.ID}, {"customer", m.Customer}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.name))
		} else if err := checkRef(f.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	if m.Time != "" {
		if err := checkPath(m.Time); err != nil {
			errs = append(errs, fmt.Errorf("time: %w", err))
		}
	}
	if len(m.Data) > maxMapped || len(m.Match) > maxMapped {
		errs = append(errs, fmt.Errorf("data and match take at most %d entries", maxMapped))
	}
	for k, v := range m.Data {
		if err := checkRef(v); err != nil {
			errs = append(errs, fmt.Errorf("data.%s: %w", k, err))
		}
	}
	for k := range m.Match {
		if err := checkPath(k); err != nil {
			errs = append(errs, fmt.Errorf("match: %w", err))
		}
	}
	return errors.Join(errs...)
}

func checkRef(v string) error {
	if strings.HasPrefix(v, "=") {
		return nil
	}
	return checkPath(v)
}

// generic is a JSON webhook mapped by configuration.
type generic struct {
	m         Mapping
	cel       *celMapping
	sig       HMACScheme
	tolerance time.Duration
}

func (g *generic) Verify(r Request, secret []byte, now time.Time) error {
	return g.sig.verify(r, secret, now, g.tolerance)
}

func (g *generic) Map(r Request, now time.Time) (signals.Signal, error) {
	if g.cel != nil {
		doc, err := g.cel.eval(r)
		if err != nil {
			return signals.Signal{}, err
		}
		if doc == nil {
			return signals.Signal{}, ignored("the cel mapping gave {}")
		}
		return celResult(doc, g, now)
	}
	doc, err := decodeAny(r.Body)
	if err != nil {
		return signals.Signal{}, mapErr(signals.ReasonMalformed, "", "%v", err)
	}
	return g.fromDoc(doc, now)
}

// fromDoc maps a decoded document by the paths of the mapping.
func (g *generic) fromDoc(doc any, now time.Time) (signals.Signal, error) {
	keys := make([]string, 0, len(g.m.Match))
	for k := range g.m.Match {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := lookup(doc, k)
		s, _ := scalarString(v)
		if !ok || s != g.m.Match[k] {
			return signals.Signal{}, ignored(fmt.Sprintf("%s is not %q", k, g.m.Match[k]))
		}
	}
	kind := g.m.Kind
	if !signals.Kind(kind).Valid() {
		v, _ := lookup(doc, kind)
		s, _ := scalarString(v)
		if s == "" {
			return signals.Signal{}, mapErr(signals.ReasonMissingField, kind, "no signal kind")
		}
		kind = s
	}
	event, ok := g.ref(doc, g.m.ID)
	evs, _ := scalarString(event)
	if !ok || evs == "" {
		return signals.Signal{}, mapErr(signals.ReasonMissingField, g.m.ID, "no event id")
	}
	sid, err := id(TypeGeneric, evs)
	if err != nil {
		return signals.Signal{}, err
	}
	cust, ok := g.ref(doc, g.m.Customer)
	custs, _ := scalarString(cust)
	if !ok || custs == "" {
		return signals.Signal{}, mapErr(signals.ReasonMissingField, g.m.Customer, "no customer id")
	}
	t := now
	if g.m.Time != "" {
		if v, ok := lookup(doc, g.m.Time); ok && v != nil {
			var err error
			if t, err = parseAnyTime(v); err != nil {
				return signals.Signal{}, mapErr(signals.ReasonWrongType, g.m.Time, "%v", err)
			}
		}
	}
	data := make(map[string]any, len(g.m.Data))
	for k, ref := range g.m.Data {
		if v, ok := g.ref(doc, ref); ok && v != nil {
			data[k] = coerce(k, v)
		}
	}
	env, err := json.Marshal(wireEnvelope{ID: sid, Kind: kind, Customer: custs, Time: t.UTC().Format(time.RFC3339Nano),
		Source: TypeGeneric, Data: data})
	if err != nil {
		return signals.Signal{}, mapErr(signals.ReasonMalformed, "", "%v", err)
	}
	return signals.Decode("", env, now)
}

// ref is the value at a path, or a constant: a number when it reads as
// one, else a string.
func (g *generic) ref(doc any, ref string) (any, bool) {
	if c, ok := strings.CutPrefix(ref, "="); ok {
		if _, err := strconv.ParseFloat(c, 64); err == nil {
			return json.Number(c), true
		}
		return c, true
	}
	return lookup(doc, ref)
}

func parseAnyTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t, nil
		}
		if sec, err := strconv.ParseInt(x, 10, 64); err == nil {
			return time.Unix(sec, 0), nil
		}
	case json.Number:
		if sec, err := x.Int64(); err == nil {
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, errors.New("want an RFC 3339 time or Unix seconds")
}

// numericData are the data fields of the contract that are numbers; the
// others are strings.
var numericData = map[string]bool{"events": true, "active_users": true, "first_response_minutes": true,
	"score": true, "amount_pct": true, "sentiment": true, "reach": true, "arr": true}

// coerce converts between numbers and strings to the contract's type of
// data field k: senders write ids as numbers and scores as strings.
func coerce(k string, v any) any {
	switch x := v.(type) {
	case json.Number:
		if !numericData[k] {
			return x.String()
		}
	case string:
		if numericData[k] {
			if _, err := strconv.ParseFloat(x, 64); err == nil {
				return json.Number(x)
			}
		}
	}
	return v
}
